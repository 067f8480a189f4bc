"""Rater reliability, learned from the ratings of a project as they arrive."""

import numpy as np
from django.db import transaction

from annotate.models import RaterNoise, RaterProfile, Rating, Target
from learner.agreement import rater_reliability
from learner.raters import MIN_NOISE_CLIPS, rater_noise, rater_noise_each


def _noise(table: np.ndarray) -> tuple[float | None, int]:
    """One target's crowd noise from its (clips, raters) table, and the clips with two or
    more ratings it rests on; None below MIN_NOISE_CLIPS such clips."""
    present = ~np.isnan(table)
    multi = present.sum(axis=1) >= 2
    n_clips = int(multi.sum())
    if n_clips < MIN_NOISE_CLIPS:
        return None, n_clips
    clips = [row[keep][:, None] for row, keep in zip(table[multi], present[multi], strict=True)]
    return float(rater_noise(clips)[0]), n_clips


def _noise_each(table: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Each rater's own noise on one target (learner.raters.rater_noise_each) and the
    clips they share with someone, from the target's (clips, raters) table."""
    present = ~np.isnan(table)
    clips, raters = np.nonzero(present)
    each = rater_noise_each(clips, raters, table[clips, raters][:, None], [noise])[:, 0]
    each = np.pad(each, (0, table.shape[1] - each.size), constant_values=noise)
    shared = (present & (present.sum(axis=1, keepdims=True) >= 2)).sum(axis=0)
    return each, shared


def rater_reliability_update(*, project_id: int) -> dict[int, float]:
    """Re-estimate every rater's reliability in a project from all its ratings, and the
    crowd's rating noise on each target.

    Reliability is the leave-one-out agreement of a rater with the others on shared
    clips, averaged over targets (learner.agreement.rater_reliability). Returns
    `{user_id: reliability}` for raters with shared clips; others keep their value.
    A target's noise is the pooled within-clip SD of its ratings
    (learner.raters.rater_noise), stored on the Target with the number of clips with
    two or more ratings; it stays null (unknown) below `MIN_NOISE_CLIPS` of them. Once
    it is known, each rater's own noise on the target (RaterNoise) is re-estimated too.
    """
    rows = list(
        Rating.objects.filter(clip__project_id=project_id).values_list(
            "clip_id", "rater_id", "values"
        )
    )
    if not rows:
        return {}
    clip_ids = sorted({clip_id for clip_id, _, _ in rows})
    rater_ids = sorted({rater_id for _, rater_id, _ in rows})
    clip_index = {clip_id: i for i, clip_id in enumerate(clip_ids)}
    rater_index = {rater_id: j for j, rater_id in enumerate(rater_ids)}
    targets = sorted({name for _, _, values in rows for name in values})
    per_target, noise, noise_each = [], {}, {}
    for target in targets:
        table = np.full((len(clip_ids), len(rater_ids)), np.nan)
        for clip_id, rater_id, values in rows:
            if values.get(target) is not None:
                table[clip_index[clip_id], rater_index[rater_id]] = values[target]
        per_target.append(rater_reliability(table))
        noise[target] = _noise(table)
        if noise[target][0] is not None:
            noise_each[target] = _noise_each(table, noise[target][0])
    reliability = np.nanmean(np.vstack(per_target), axis=0)
    shared = np.sum(~np.isnan(table), axis=0)
    updated = {}
    with transaction.atomic():
        for rater_id, value, n_clips in zip(rater_ids, reliability, shared, strict=True):
            if np.isnan(value):
                continue
            RaterProfile.objects.update_or_create(
                user_id=rater_id,
                defaults={"reliability": float(value), "reliability_n": int(n_clips)},
            )
            updated[rater_id] = float(value)
        RaterNoise.objects.filter(target__project_id=project_id).delete()
        for target in Target.objects.filter(project_id=project_id):
            target.rater_noise, target.rater_noise_clips = noise.get(target.name, (None, 0))
            target.save(update_fields=["rater_noise", "rater_noise_clips"])
            if target.name not in noise_each:
                continue
            each, shared = noise_each[target.name]
            RaterNoise.objects.bulk_create(
                RaterNoise(target=target, rater_id=rater_id, noise=float(value), n_clips=int(n))
                for rater_id, value, n in zip(rater_ids, each, shared, strict=True)
                if n > 0
            )
    return updated


def rater_reliability_refresh() -> None:
    """Recompute reliabilities in every project that has ratings."""
    project_ids = Rating.objects.values_list("clip__project_id", flat=True).distinct()
    for project_id in sorted(set(project_ids)):
        rater_reliability_update(project_id=project_id)
