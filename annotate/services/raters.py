"""Rater reliability and noise, learned from the ratings of a project as they arrive."""

import numpy as np
from django.db import transaction

from annotate.learning.crowd import project_crowd
from annotate.models import RaterNoise, RaterProfile, Rating, Target


def rater_reliability_update(*, project_id: int) -> dict[int, float]:
    """Re-estimate every rater's reliability in a project from all its ratings, and the
    crowd's rating noise on each target (annotate.learning.crowd,
    learner.raters.crowd_estimates).

    Reliability is the leave-one-out agreement of a rater with the others on shared
    clips, averaged over targets; `reliability_n` counts the clips the rater shares
    with at least one other rater. Returns `{user_id: reliability}` for raters with a
    known reliability; others keep their value. A target's noise (the pooled
    within-clip SD of its ratings) is stored on the Target with the number of clips with
    two or more ratings; it stays null (unknown) below `MIN_NOISE_CLIPS` of them. Once
    it is known, each rater's own noise on the target (RaterNoise) is stored too.
    """
    crowd = project_crowd(project_id=project_id)
    if crowd is None:
        return {}
    estimates = crowd.estimates
    updated = {
        rater_id: (float(value), int(n_clips))
        for rater_id, value, n_clips in zip(
            crowd.rater_ids, estimates.reliability, estimates.reliability_clips, strict=True
        )
        if not np.isnan(value)
    }
    with transaction.atomic():
        _profiles_write(updated)
        RaterNoise.objects.filter(target__project_id=project_id).delete()
        for target in Target.objects.filter(project_id=project_id):
            t = crowd.targets.index(target.name)
            noise = estimates.noise[t]
            target.rater_noise = None if np.isnan(noise) else float(noise)
            target.rater_noise_clips = int(estimates.noise_clips[t])
            target.save(update_fields=["rater_noise", "rater_noise_clips"])
            if target.rater_noise is None:
                continue
            RaterNoise.objects.bulk_create(
                RaterNoise(target=target, rater_id=rater_id, noise=float(value), n_clips=int(n))
                for rater_id, value, n in zip(
                    crowd.rater_ids,
                    estimates.rater_noise[:, t],
                    estimates.rater_noise_clips[:, t],
                    strict=True,
                )
                if n > 0
            )
    return {rater_id: value for rater_id, (value, _) in updated.items()}


def _profiles_write(reliability: dict[int, tuple[float, int]]) -> None:
    """Store each rater's (reliability, reliability_n) in a fixed number of queries
    whatever the size of the crowd: a pass runs after every burst of ratings."""
    profiles = list(RaterProfile.objects.filter(user_id__in=reliability).select_for_update())
    for profile in profiles:
        profile.reliability, profile.reliability_n = reliability[profile.user_id]
    RaterProfile.objects.bulk_update(profiles, ["reliability", "reliability_n"], batch_size=500)
    have = {profile.user_id for profile in profiles}
    RaterProfile.objects.bulk_create(
        RaterProfile(user_id=rater_id, reliability=value, reliability_n=n)
        for rater_id, (value, n) in reliability.items()
        if rater_id not in have
    )


def rater_reliability_refresh() -> None:
    """Recompute reliabilities in every project that has ratings."""
    project_ids = Rating.objects.values_list("clip__project_id", flat=True).distinct()
    for project_id in sorted(set(project_ids)):
        rater_reliability_update(project_id=project_id)
