"""Ratings of a batch of clips -> the standard error of each clip's human label."""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from annotate.models import Target
from learner.raters import weighted_label


def human_label_errors(
    *,
    ratings: Iterable[tuple[int, int, Mapping[str, float]]],
    targets: Sequence[Target],
    rater_noise: Mapping[tuple[int, int], float],
) -> dict[tuple[int, str], float | None]:
    """The standard error of each clip's human label, keyed by (clip id, target name).

    `ratings` are (clip id, rater id, values) and `rater_noise` maps (target id, rater
    id) to the rater's own noise. Where the crowd's noise on a target is known, each
    rating counts with its rater's own noise, else the crowd's (`weighted_label`, the
    weighting the label itself uses). While it is unknown the error is the ratings'
    sample SD over sqrt(n), and None below two ratings.
    """
    by_clip: dict[int, list[tuple[int, Mapping[str, float]]]] = defaultdict(list)
    for clip_id, rater_id, values in ratings:
        by_clip[clip_id].append((rater_id, values))
    errors: dict[tuple[int, str], float | None] = {}
    for clip_id, rows in by_clip.items():
        for target in targets:
            rated = [(r, v[target.name]) for r, v in rows if v.get(target.name) is not None]
            y = np.array([value for _, value in rated], dtype=np.float64)
            if target.rater_noise is not None and len(y):
                noise = np.array(
                    [rater_noise.get((target.pk, r), target.rater_noise) for r, _ in rated]
                )
                error = float(weighted_label(y[:, None], noise[:, None])[1][0])
            elif len(y) >= 2:
                error = float(y.std(ddof=1) / np.sqrt(len(y)))
            else:
                continue
            errors[clip_id, target.name] = error if np.isfinite(error) else None
    return errors
