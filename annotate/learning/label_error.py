"""Ratings of clips -> the standard error of each clip's human label, weighted as the
label itself weighs its ratings (learner.raters.weighted_label)."""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from annotate.models import Project, RaterBlock, RaterNoise, Rating, Target
from learner.raters import settled_label_error

__all__ = ["human_label_errors", "label_errors", "rater_noise_of"]


def rater_noise_of(project: Project) -> dict[tuple[int, int], float]:
    """Each rater's own noise per target, keyed by (target id, rater id)."""
    return {
        (target_id, rater_id): value
        for target_id, rater_id, value in RaterNoise.objects.filter(
            target__project=project
        ).values_list("target_id", "rater_id", "noise")
    }


def human_label_errors(
    *,
    ratings: Iterable[tuple[int, int, Mapping[str, float]]],
    targets: Sequence[Target],
    rater_noise: Mapping[tuple[int, int], float],
    noise_known_only: bool = False,
) -> dict[tuple[int, str], float | None]:
    """The standard error of each clip's human label, keyed by (clip id, target name).

    `ratings` are (clip id, rater id, values) and `rater_noise` maps (target id, rater
    id) to the rater's own noise. Where the crowd's noise on a target is known, each
    rating counts with its rater's own noise, else the crowd's, as the label itself
    weighs them, and the error is never below what those noises allow
    (`settled_label_error`). While it is unknown the error is the ratings'
    sample SD over sqrt(n) (none below two ratings), unless `noise_known_only`.
    """
    by_clip: dict[int, list[tuple[int, Mapping[str, float]]]] = defaultdict(list)
    for clip_id, rater_id, values in ratings:
        by_clip[clip_id].append((rater_id, values))
    errors: dict[tuple[int, str], float | None] = {}
    for clip_id, rows in by_clip.items():
        for target in targets:
            rated = [
                (r, v[target.name]) for r, v in rows if isinstance(v.get(target.name), int | float)
            ]
            y = np.array([value for _, value in rated], dtype=np.float64)
            if target.rater_noise is not None and len(y):
                noise = np.array(
                    [rater_noise.get((target.pk, r), target.rater_noise) for r, _ in rated]
                )
                error = float(settled_label_error(y[:, None], noise[:, None])[0])
            elif len(y) >= 2 and not noise_known_only:
                error = float(y.std(ddof=1) / np.sqrt(len(y)))
            else:
                continue
            errors[clip_id, target.name] = error if np.isfinite(error) else None
    return errors


def label_errors(
    project: Project, clip_ids: NDArray[np.int64], targets: Sequence[str]
) -> NDArray[np.float64]:
    """(n, t): the standard error of each clip's human label, NaN where the target's crowd
    noise is unknown or the clip has no rating of it; ratings of raters blocked with
    `exclude_ratings` are left out, as they are of the label."""
    by_name = {t.name: t for t in project.targets.all()}
    excluded = RaterBlock.objects.filter(project=project, exclude_ratings=True).values("rater_id")
    ratings = (
        Rating.objects.filter(clip_id__in=[int(c) for c in clip_ids])
        .exclude(rater_id__in=excluded)
        .values_list("clip_id", "rater_id", "values")
    )
    errors = human_label_errors(
        ratings=ratings,
        targets=[by_name[name] for name in targets],
        rater_noise=rater_noise_of(project),
        noise_known_only=True,
    )
    out = np.full((len(clip_ids), len(targets)), np.nan)
    for i, clip_id in enumerate(clip_ids.tolist()):
        for t, target in enumerate(targets):
            error = errors.get((clip_id, target))
            if error is not None:
                out[i, t] = error
    return out
