"""A clip's ratings -> its labels, agreement and how many raters it still wants."""

from dataclasses import dataclass

import numpy as np

from annotate.models import Clip, Project, RaterNoise, RaterProfile, Rating, Target
from learner.raters import Settlement, settle_clip


@dataclass(frozen=True)
class ClipSettlement:
    """`settle_clip`'s answer for a clip, with the project's targets it is indexed by."""

    targets: list[Target]
    settlement: Settlement


def clip_settlement(*, clip: Clip, project: Project) -> ClipSettlement:
    """Read the clip's ratings, its raters' reliability and own noise, and settle it.

    Ratings are weighted by each rater's own noise where the target's crowd noise is
    known, else by reliability (learner.raters.clip_label); raters not yet measured
    count as the crowd (noise) or as reliability 1.
    """
    targets = list(project.targets.all())
    ratings = list(Rating.objects.filter(clip=clip).values_list("rater_id", "values"))
    rater_ids = [rater_id for rater_id, _ in ratings]
    reliability = dict(
        RaterProfile.objects.filter(user_id__in=rater_ids).values_list("user_id", "reliability")
    )
    own_noise = {
        (target_id, rater_id): noise
        for target_id, rater_id, noise in RaterNoise.objects.filter(
            target__project=project, rater_id__in=rater_ids
        ).values_list("target_id", "rater_id", "noise")
    }
    shape = (len(ratings), len(targets))
    table = np.array(
        [[values.get(t.name) for t in targets] for _, values in ratings], dtype=np.float64
    ).reshape(shape)
    rater_noise = np.array(
        [[own_noise.get((t.pk, r), np.nan) for t in targets] for r in rater_ids], dtype=np.float64
    ).reshape(shape)
    settlement = settle_clip(
        table,
        scale_min=np.array([t.scale_min for t in targets]),
        scale_max=np.array([t.scale_max for t in targets]),
        crowd_noise=np.array([np.nan if t.rater_noise is None else t.rater_noise for t in targets]),
        rater_noise=rater_noise,
        reliability=np.array([reliability.get(r, 1.0) for r in rater_ids], dtype=np.float64),
        # The learner may start an easy clip with fewer raters than the project minimum.
        ratings_wanted=clip.ratings_wanted or project.min_raters,
        panel=project.rater_panel,
        max_raters=project.max_raters,
        agreement_target=project.agreement_target,
        active_leases=clip.active_leases,
    )
    return ClipSettlement(targets=targets, settlement=settlement)
