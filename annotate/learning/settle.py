"""A clip's ratings -> its labels, agreement and how many raters it still wants."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet

from annotate.models import (
    Clip,
    Project,
    RaterBlock,
    RaterNoise,
    Rating,
    Role,
    Target,
)
from learner.raters import Settlement, settle_clip


@dataclass(frozen=True)
class ClipSettlement:
    """`settle_clip`'s answer for a clip, with the project's targets it is indexed by."""

    targets: list[Target]
    settlement: Settlement


def _active_raters(project: Project) -> QuerySet[User]:
    blocked = RaterBlock.objects.filter(project=project).values("rater_id")
    rater_role = Q(profile__role=Role.RATER) | Q(profile__isnull=True)
    return (
        User.objects.filter(rater_role, projects=project, is_active=True, is_superuser=False)
        .exclude(password__startswith="!")
        .exclude(pk__in=blocked)
    )


def active_rater_ids(project: Project) -> set[int]:
    """The raters who can still rate in the project: members with the rater role who
    can sign in (active, with a password: not the stand-ins of an imported ratings.csv)
    and are not blocked there. How recently they rated does not matter: a rater back
    from a week off still counts."""
    return set(_active_raters(project).values_list("id", flat=True))


def excluded_rater_ids(project: Project) -> set[int]:
    """Raters blocked with `exclude_ratings`: their ratings are left out of labels."""
    return set(
        RaterBlock.objects.filter(project=project, exclude_ratings=True).values_list(
            "rater_id", flat=True
        )
    )


def raters_cap(*, project: Project, available: int, n_ratings: int = 0) -> int:
    """The most ratings a clip can want: the project's maximum, and no more than it has
    plus the `available` active raters who have not rated it (a small team never leaves
    a clip waiting for a rater who does not exist); a clip nobody can rate yet wants one."""
    return min(project.max_raters, max(n_ratings + available, 1))


def clip_settlement(
    *, clip: Clip, project: Project, targets: Sequence[Target] | None = None
) -> ClipSettlement:
    """Read the clip's ratings, its raters' reliability and own noise, and settle it.

    Ratings are weighted by each rater's own noise where the target's crowd noise is
    known, else by reliability (learner.raters.clip_label); raters not yet measured
    count as the crowd (noise) or as reliability 1. Ratings of raters blocked with
    `exclude_ratings` are left out. The clip wants at most `raters_cap` ratings.
    `targets`: the project's targets when the caller has read them already.

    Three queries whatever the clip, its raters or the targets: the ratings with each
    rater's reliability and exclusion, the raters' own noise, and the active raters.
    """
    targets = list(project.targets.all()) if targets is None else list(targets)
    excluded_q = RaterBlock.objects.filter(
        project=project, rater=OuterRef("rater_id"), exclude_ratings=True
    )
    every_rating = list(
        Rating.objects.filter(clip=clip)
        .annotate(excluded=Exists(excluded_q))
        .values_list("rater_id", "values", "rater__profile__reliability", "excluded")
    )
    ratings = [(rater_id, values) for rater_id, values, _, excluded in every_rating if not excluded]
    rater_ids = [rater_id for rater_id, _ in ratings]
    reliability = {
        rater_id: value
        for rater_id, _, value, excluded in every_rating
        if not excluded and value is not None
    }
    own_noise = (
        {
            (target_id, rater_id): noise
            for target_id, rater_id, noise in RaterNoise.objects.filter(
                target__project=project, rater_id__in=rater_ids
            ).values_list("target_id", "rater_id", "noise")
        }
        if rater_ids
        else {}
    )
    shape = (len(ratings), len(targets))
    table = np.array(
        [[values.get(t.name) for t in targets] for _, values in ratings], dtype=np.float64
    ).reshape(shape)
    rater_noise = np.array(
        [[own_noise.get((t.pk, r), np.nan) for t in targets] for r in rater_ids], dtype=np.float64
    ).reshape(shape)
    # Everyone who rated the clip, excluded or not, has had their turn on it.
    rated_it = {rater_id for rater_id, *_ in every_rating}
    # Counted in the database: a crowd of hundreds is not read row by row per rating.
    available = _active_raters(project).exclude(pk__in=rated_it).count()
    cap = raters_cap(project=project, available=available, n_ratings=len(ratings))
    settlement = settle_clip(
        table,
        scale_min=np.array([t.scale_min for t in targets]),
        scale_max=np.array([t.scale_max for t in targets]),
        crowd_noise=np.array([np.nan if t.rater_noise is None else t.rater_noise for t in targets]),
        rater_noise=rater_noise,
        reliability=np.array([reliability.get(r, 1.0) for r in rater_ids], dtype=np.float64),
        # The learner may start an easy clip with fewer raters than the project minimum.
        ratings_wanted=min(clip.ratings_wanted or project.min_raters, cap),
        panel=project.rater_panel,
        max_raters=cap,
        agreement_target=project.agreement_target,
        active_leases=clip.active_leases,
    )
    return ClipSettlement(targets=targets, settlement=settlement)
