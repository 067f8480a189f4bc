"""A clip's ratings -> its labels, agreement and how many raters it still wants."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from django.contrib.auth.models import User
from django.db import connection

from annotate.models import (
    Clip,
    Project,
    RaterBlock,
    RaterNoise,
    RaterProfile,
    Rating,
    Role,
    Target,
)
from annotate.rawsql import Row, Statement, fetch_sets, table
from learner.raters import Settlement, settle_clip


@dataclass(frozen=True)
class ClipSettlement:
    """`settle_clip`'s answer for a clip, with the project's targets it is indexed by."""

    targets: list[Target]
    settlement: Settlement


@cache
def _active_raters_sql(vendor: str) -> str:
    """FROM ... WHERE of the project's active raters (parameters: the project twice)."""
    return f"""
        FROM {table(User)} u
            JOIN {table(Project.members.through)} m ON m.user_id = u.id AND m.project_id = %s
            LEFT JOIN {table(RaterProfile)} r ON r.user_id = u.id
        WHERE (r.role = '{Role.RATER}' OR r.id IS NULL) AND u.is_active = %s
            AND u.is_superuser = %s AND u.password NOT LIKE '!%%'
            AND NOT EXISTS (SELECT 1 FROM {table(RaterBlock)} b
                WHERE b.project_id = %s AND b.rater_id = u.id)
    """


def _active_raters_params(project: Project) -> list[int | bool]:
    return [project.pk, True, False, project.pk]


def active_rater_ids(project: Project) -> set[int]:
    """The raters who can still rate in the project: members with the rater role who
    can sign in (active, with a password: not the stand-ins of an imported ratings.csv)
    and are not blocked there. How recently they rated does not matter: a rater back
    from a week off still counts."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.id {_active_raters_sql(connection.vendor)}", _active_raters_params(project)
        )
        return {rater_id for (rater_id,) in cursor.fetchall()}


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


# The reads of a settlement, in SQL written once (annotate.rawsql): one runs per rating.
@cache
def _clip_ratings_sql(vendor: str) -> str:
    """Each rating of a clip: rater, values, reliability, excluded (a block's
    exclude_ratings)."""
    blocks = table(RaterBlock)
    return f"""
        SELECT x.rater_id, x."values", r.reliability,
            EXISTS (SELECT 1 FROM {blocks} b WHERE b.project_id = %s
                AND b.rater_id = x.rater_id AND b.exclude_ratings = %s)
        FROM {table(Rating)} x LEFT JOIN {table(RaterProfile)} r ON r.user_id = x.rater_id
        WHERE x.clip_id = %s ORDER BY x.id
    """


@cache
def _clip_noise_sql(vendor: str) -> str:
    """Each (target, rater, noise) of the raters of a clip."""
    return f"""
        SELECT n.target_id, n.rater_id, n.noise
        FROM {table(RaterNoise)} n JOIN {table(Target)} t ON t.id = n.target_id
        WHERE t.project_id = %s
            AND n.rater_id IN (SELECT x.rater_id FROM {table(Rating)} x WHERE x.clip_id = %s)
    """


@cache
def _available_raters_sql(vendor: str) -> str:
    """How many of the project's active raters have not rated the clip, counted up to the
    project's max_raters (no clip wants more; `raters_cap`): a rating then reads a few
    members, not the whole crowd (2.2 ms per rating with 501 members, counted to the end)."""
    return f"""
        SELECT COUNT(*) FROM (SELECT 1 {_active_raters_sql(vendor)}
            AND NOT EXISTS (SELECT 1 FROM {table(Rating)} x
                WHERE x.clip_id = %s AND x.rater_id = u.id)
            LIMIT %s) available
    """


def settlement_reads(*, clip_id: int, project: Project) -> list[Statement]:
    """The settlement's three reads (statement, parameters): the clip's ratings with each
    rater's reliability and exclusion, the raters' own noise, and how many active raters
    have not rated it. A caller that locks the clip runs them with its lock, in one
    round trip (annotate.rawsql.fetch_sets)."""
    vendor = connection.vendor
    return [
        (_clip_ratings_sql(vendor), [project.pk, True, clip_id]),
        (_clip_noise_sql(vendor), [project.pk, clip_id]),
        (
            _available_raters_sql(vendor),
            [*_active_raters_params(project), clip_id, project.max_raters],
        ),
    ]


def clip_settlement(
    *,
    clip: Clip,
    project: Project,
    targets: Sequence[Target] | None = None,
    read: Sequence[list[Row]] | None = None,
) -> ClipSettlement:
    """Read the clip's ratings, its raters' reliability and own noise, and settle it.

    Ratings are weighted by each rater's own noise where the target's crowd noise is
    known, else by reliability (learner.raters.clip_label); raters not yet measured
    count as the crowd (noise) or as reliability 1. Ratings of raters blocked with
    `exclude_ratings` are left out. The clip wants at most `raters_cap` ratings.
    `targets`: the project's targets when the caller has read them already; `read`: the
    rows of `settlement_reads` when the caller has run them (else they are run here, in
    one round trip on PostgreSQL, whatever the clip, its raters or the targets).
    """
    targets = list(project.targets.all()) if targets is None else list(targets)
    if read is None:
        read = fetch_sets(settlement_reads(clip_id=clip.pk, project=project))
    rating_rows, noise_rows, ((available,),) = read
    every_rating = [
        (rater_id, json.loads(values) if isinstance(values, str) else values, rel, excluded)
        for rater_id, values, rel, excluded in rating_rows
    ]
    ratings = [(rater_id, values) for rater_id, values, _, ex in every_rating if not ex]
    # Everyone who rated the clip, excluded or not, has had their turn on it (available).
    own_noise: dict[tuple[int, int], float] = {(t, r): noise for t, r, noise in noise_rows}
    rater_ids = [rater_id for rater_id, _ in ratings]
    reliability = {
        rater_id: value
        for rater_id, _, value, excluded in every_rating
        if not excluded and value is not None
    }
    shape = (len(ratings), len(targets))
    rated = np.array(
        [[values.get(t.name) for t in targets] for _, values in ratings], dtype=np.float64
    ).reshape(shape)
    rater_noise = np.array(
        [[own_noise.get((t.pk, r), np.nan) for t in targets] for r in rater_ids], dtype=np.float64
    ).reshape(shape)
    cap = raters_cap(project=project, available=available, n_ratings=len(ratings))
    settlement = settle_clip(
        rated,
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
