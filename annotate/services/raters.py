"""Rater reliability, learned from the ratings of a project as they arrive."""

import numpy as np
from django.db import transaction

from annotate.models import RaterProfile, Rating
from learner.agreement import rater_reliability


def rater_reliability_update(*, project_id: int) -> dict[int, float]:
    """Re-estimate every rater's reliability in a project from all its ratings.

    Reliability is the leave-one-out agreement of a rater with the others on shared
    clips, averaged over targets (learner.agreement.rater_reliability). Returns
    `{user_id: reliability}` for raters with shared clips; others keep their value.
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
    per_target = []
    for target in targets:
        table = np.full((len(clip_ids), len(rater_ids)), np.nan)
        for clip_id, rater_id, values in rows:
            if values.get(target) is not None:
                table[clip_index[clip_id], rater_index[rater_id]] = values[target]
        per_target.append(rater_reliability(table))
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
    return updated


def rater_reliability_refresh() -> None:
    """Recompute reliabilities in every project that has ratings."""
    project_ids = Rating.objects.values_list("clip__project_id", flat=True).distinct()
    for project_id in sorted(set(project_ids)):
        rater_reliability_update(project_id=project_id)
