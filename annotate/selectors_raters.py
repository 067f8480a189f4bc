"""How each rater of a project rates: volume, speed, noise, agreement with the crowd and
with gold, the flags a researcher should look at, and whether an admin blocked them.

Flag rules (each needs `MIN_FLAG_RATINGS` ratings, so a newcomer is never flagged):
- `too_fast`: the rater's median time per clip is under `TOO_FAST_SHARE` of the median
  duration of the clips they rated (they cannot have listened to most of it);
- `constant`: on some target the spread (population SD) of their values is under
  `CONSTANT_SHARE` of the target's scale width (the same answer every time);
- `high_noise`: on some target their own noise (RaterNoise, measured on at least
  `MIN_FLAG_RATINGS` shared clips) is above `HIGH_NOISE_RATIO` times the crowd's
  (Target.rater_noise).
"""

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import FloatField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from numpy.typing import NDArray

from annotate.models import (
    Project,
    RaterBlock,
    RaterNoise,
    Rating,
    ReferenceLabel,
    Role,
    Target,
)

MIN_FLAG_RATINGS = 5
TOO_FAST_SHARE = 0.5
CONSTANT_SHARE = 0.05
HIGH_NOISE_RATIO = 1.5
MIN_CORRELATION_CLIPS = 3
NO_AGREEMENT: dict[str, Any] = {"mae": None, "correlation": None, "clips": 0}


@dataclass(frozen=True)
class _Ratings:
    """A project's ratings in long form: one entry per rating."""

    clip_ids: NDArray[np.int64]
    rater_ids: NDArray[np.int64]
    values: NDArray[np.float64]  # (n_ratings, n_targets), NaN where missing
    seconds: NDArray[np.float64]  # NaN where the time was not recorded
    durations: NDArray[np.float64]


def _ratings(project: Project, targets: list[Target]) -> _Ratings:
    # Each target's value is taken out of the JSON by the database: decoding 50k JSON
    # objects in Python was most of this page's time.
    columns = {
        f"target_{i}": Cast(KeyTextTransform(t.name, "values"), FloatField())
        for i, t in enumerate(targets)
    }
    rows = list(
        Rating.objects.filter(clip__project=project)
        .annotate(**columns)
        .values_list("clip_id", "rater_id", "time_spent_ms", "clip__duration_s", *columns)
    )
    values = np.array(
        [[np.nan if v is None else v for v in row[4:]] for row in rows], dtype=np.float64
    ).reshape(len(rows), len(targets))
    return _Ratings(
        clip_ids=np.array([r[0] for r in rows], dtype=np.int64),
        rater_ids=np.array([r[1] for r in rows], dtype=np.int64),
        values=values,
        seconds=np.array([np.nan if r[2] is None else r[2] / 1000 for r in rows], dtype=np.float64),
        durations=np.array([r[3] for r in rows], dtype=np.float64),
    )


def _rounded(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def crowd_agreement(
    clip_ids: NDArray[np.int64], rater_ids: NDArray[np.int64], values: NDArray[np.float64]
) -> dict[int, dict[str, Any]]:
    """Per rater, on one target: the mean absolute difference of their ratings from the
    mean of the other raters of the same clip (leave-one-out), the Pearson correlation
    with it (None under `MIN_CORRELATION_CLIPS` clips or without spread), and the number
    of shared clips both rest on."""
    rated = np.isfinite(values)
    c, r, v = clip_ids[rated], rater_ids[rated], values[rated]
    totals: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    for clip, value in zip(c.tolist(), v.tolist(), strict=True):
        totals[clip] += value
        counts[clip] += 1
    own: dict[int, list[float]] = defaultdict(list)
    rest: dict[int, list[float]] = defaultdict(list)
    for clip, rater, value in zip(c.tolist(), r.tolist(), v.tolist(), strict=True):
        if counts[clip] > 1:
            own[rater].append(value)
            rest[rater].append((totals[clip] - value) / (counts[clip] - 1))
    out = {}
    for rater in own:
        mine, others = np.array(own[rater]), np.array(rest[rater])
        correlation = None
        if len(mine) >= MIN_CORRELATION_CLIPS and mine.std() > 0 and others.std() > 0:
            correlation = _rounded(float(np.corrcoef(mine, others)[0, 1]))
        out[rater] = {
            "mae": _rounded(float(np.abs(mine - others).mean())),
            "correlation": correlation,
            "clips": len(mine),
        }
    return out


def _gold_errors(
    project: Project, data: _Ratings, targets: list[Target]
) -> dict[int, dict[str, dict[str, Any]]]:
    """Per rater and target: mean absolute error against the corpus's reference labels
    on the clips that have one."""
    reference = {
        (clip_id, target): value
        for clip_id, target, value in ReferenceLabel.objects.filter(
            clip__project=project
        ).values_list("clip_id", "target", "value")
    }
    errors: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    if not reference:
        return {}
    for i, (clip, rater) in enumerate(
        zip(data.clip_ids.tolist(), data.rater_ids.tolist(), strict=True)
    ):
        for t, target in enumerate(targets):
            gold = reference.get((clip, target.name))
            if gold is not None and np.isfinite(data.values[i, t]):
                errors[rater][target.name].append(abs(data.values[i, t] - gold))
    return {
        rater: {
            name: {"mae": _rounded(float(np.mean(e))), "clips": len(e)}
            for name, e in per_target.items()
        }
        for rater, per_target in errors.items()
    }


def rater_flags(
    *,
    n_ratings: int,
    median_seconds: float | None,
    median_duration: float | None,
    spread: dict[str, float | None],
    scale_width: dict[str, float],
    noise: dict[str, float | None],
    noise_clips: dict[str, int],
    crowd_noise: dict[str, float | None],
) -> list[str]:
    """The flags of one rater (module docstring), by name."""
    if n_ratings < MIN_FLAG_RATINGS:
        return []
    flags = []
    if (
        median_seconds is not None
        and median_duration is not None
        and median_seconds < TOO_FAST_SHARE * median_duration
    ):
        flags.append("too_fast")
    if any(s is not None and s < CONSTANT_SHARE * scale_width[name] for name, s in spread.items()):
        flags.append("constant")
    if any(
        own is not None
        and crowd_noise.get(name) is not None
        and noise_clips.get(name, 0) >= MIN_FLAG_RATINGS
        and own > HIGH_NOISE_RATIO * (crowd_noise[name] or 0.0)
        for name, own in noise.items()
    ):
        flags.append("high_noise")
    return flags


def _block_of(block: RaterBlock | None) -> dict[str, Any] | None:
    if block is None:
        return None
    return {
        "reason": block.reason,
        "exclude_ratings": block.exclude_ratings,
        "blocked_by": block.blocked_by.get_username() if block.blocked_by else None,
        "blocked_at": block.created_at,
    }


def raters_overview(*, project: Project) -> list[dict[str, Any]]:
    """Everyone who rated in the project, is blocked there or is one of its raters,
    with the measures and flags of the module docstring; the noisiest first, unmeasured
    last."""
    targets = list(project.targets.all())
    data = _ratings(project, targets)
    blocks = {
        b.rater_id: b
        for b in RaterBlock.objects.filter(project=project).select_related("blocked_by")
    }
    members = project.members.filter(profile__role=Role.RATER).values_list("pk", flat=True)
    rater_ids = set(data.rater_ids.tolist()) | set(blocks) | set(members)
    users = get_user_model().objects.filter(pk__in=rater_ids).select_related("profile")
    noise: dict[int, dict[str, tuple[float, int]]] = defaultdict(dict)
    for rater_id, target_name, value, n in RaterNoise.objects.filter(
        target__project=project, rater_id__in=rater_ids
    ).values_list("rater_id", "target__name", "noise", "n_clips"):
        noise[rater_id][target_name] = (value, n)
    crowd = {
        t.name: crowd_agreement(data.clip_ids, data.rater_ids, data.values[:, i])
        for i, t in enumerate(targets)
    }
    gold = _gold_errors(project, data, targets)
    crowd_noise = {t.name: t.rater_noise for t in targets}
    widths = {t.name: t.scale_max - t.scale_min for t in targets}
    raters = []
    for user in users:
        mine = data.rater_ids == user.pk
        seconds, durations = data.seconds[mine], data.durations[mine]
        timed = np.isfinite(seconds)
        median_seconds = _rounded(float(np.median(seconds[timed]))) if timed.any() else None
        median_duration = _rounded(float(np.median(durations))) if mine.any() else None
        spread = {}
        for t, target in enumerate(targets):
            own_values = data.values[mine, t]
            own_values = own_values[np.isfinite(own_values)]
            spread[target.name] = _rounded(float(own_values.std())) if own_values.size else None
        own_noise = {t.name: noise[user.pk].get(t.name, (None, 0))[0] for t in targets}
        measured = [v for v in own_noise.values() if v is not None]
        profile = getattr(user, "profile", None)
        n_ratings = int(mine.sum())
        raters.append(
            {
                "id": user.pk,
                "username": user.get_username(),
                "ratings": n_ratings,
                "median_seconds": median_seconds,
                "median_clip_seconds": median_duration,
                "reliability": profile.reliability if profile else None,
                "reliability_clips": profile.reliability_n if profile else 0,
                "noise": own_noise,
                "worst_noise": max(measured, default=None),
                "spread": spread,
                "crowd_agreement": {
                    t.name: crowd[t.name].get(user.pk, NO_AGREEMENT) for t in targets
                },
                "gold": {t.name: gold[user.pk].get(t.name) for t in targets}
                if user.pk in gold
                else None,
                "flags": rater_flags(
                    n_ratings=n_ratings,
                    median_seconds=median_seconds,
                    median_duration=median_duration,
                    spread=spread,
                    scale_width=widths,
                    noise=own_noise,
                    noise_clips={t.name: noise[user.pk].get(t.name, (None, 0))[1] for t in targets},
                    crowd_noise=crowd_noise,
                ),
                "blocked": _block_of(blocks.get(user.pk)),
            }
        )
    raters.sort(key=_noisiest_first)
    return raters


def _noisiest_first(row: dict[str, Any]) -> tuple[bool, float, str]:
    worst: float | None = row["worst_noise"]
    return (worst is None, -(worst or 0.0), str(row["username"]))
