"""Leasing clips to raters: the human-query queue.

The database is the source of truth. A clip has `ratings_wanted - n_ratings`
open slots; `active_leases` counts the slots leased out. A claim locks the clip
row with `FOR UPDATE SKIP LOCKED` inside a short transaction and bumps the
counter, so two raters asking at once never get the same last slot, and a rater
never waits behind another rater's claim.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate.errors import PermissionDenied
from annotate.learning.crowd import serves_easy_first
from annotate.models import (
    EASY_FIRST_ORDER,
    QUEUE_ORDER,
    Assignment,
    AssignmentStatus,
    Clip,
    ClipState,
    Project,
    RaterBlock,
    RaterProfile,
    Rating,
)
from annotate.rawsql import columns, fetchone, instance, table, when, width

CANDIDATES_PER_CLAIM = 16


def assignments_expire(*, project_id: int | None = None, now: datetime | None = None) -> int:
    """Mark overdue leases expired and give their slots back; returns how many expired."""
    now = now or timezone.now()
    with transaction.atomic():
        overdue = Assignment.objects.filter(status=AssignmentStatus.ACTIVE, expires_at__lte=now)
        if project_id is not None:
            overdue = overdue.filter(project_id=project_id)
        if connection.features.has_select_for_update_skip_locked:
            # A lease being rated right now is locked by the rating: leave it to the rating.
            overdue = overdue.select_for_update(skip_locked=True)
        return _give_back(list(overdue.values_list("id", "clip_id")))


def _give_back(rows: list[tuple[int, int]]) -> int:
    """Mark the (assignment id, clip id) leases expired and free their clips' slots."""
    if not rows:
        return 0
    Assignment.objects.filter(id__in=[row[0] for row in rows]).update(
        status=AssignmentStatus.EXPIRED
    )
    expired = Counter(clip_id for _, clip_id in rows)
    # One UPDATE for every clip, however many leases ran out.
    n_expired = Case(
        *(When(pk=clip_id, then=Value(n)) for clip_id, n in expired.items()),
        output_field=IntegerField(),
    )
    Clip.objects.filter(pk__in=list(expired)).update(
        active_leases=Greatest(F("active_leases") - n_expired, 0)
    )
    return len(rows)


def assignments_release(*, project: Project, rater: User) -> int:
    """End the rater's live leases in the project at once (they were blocked or removed):
    their clips go back to other raters now, not when the leases would have expired."""
    with transaction.atomic():
        live = Assignment.objects.filter(
            project=project, rater=rater, status=AssignmentStatus.ACTIVE
        ).select_for_update()
        return _give_back(list(live.values_list("id", "clip_id")))


@dataclass(frozen=True)
class RaterState:
    """What the next-clip request already read with the project
    (annotate.access.project_get_for_rater), so that it is not read again: whether the
    rater is blocked in the project, their reliability as it is now (None: no profile),
    whether any lease of the project was overdue, and the rater's live lease there."""

    blocked: bool
    reliability: float | None
    reliability_n: int | None
    overdue_leases: bool
    live_lease_id: int | None

    def easy_first(self) -> bool:
        if self.reliability is None:
            return serves_easy_first(None)
        profile = RaterProfile(reliability=self.reliability, reliability_n=self.reliability_n or 0)
        return serves_easy_first(profile)


def _easy_first(rater: User) -> bool:
    return serves_easy_first(RaterProfile.objects.filter(user=rater).first())


def _live_lease(*, rater: User, project: Project, now: datetime) -> Assignment | None:
    return (
        Assignment.objects.filter(
            rater=rater, project=project, status=AssignmentStatus.ACTIVE, expires_at__gt=now
        )
        .select_related("clip")
        .order_by("id")
        .first()
    )


# The queue's reads and the claim, in SQL written once (annotate.rawsql): every next
# clip runs them. A clip is open while it has a slot no lease holds; raters are served
# in QUEUE_ORDER (started clips first, then priority), raters proven unreliable in
# EASY_FIRST_ORDER; an index backs each (annotate.models.clips).
_OPEN = "c.project_id = %s AND c.state = %s AND c.active_leases < c.ratings_wanted - c.n_ratings"


def _order_sql(fields: tuple[str, ...]) -> str:
    return ", ".join(f"c.{f[1:]} DESC" if f.startswith("-") else f"c.{f}" for f in fields)


_ORDER = {False: _order_sql(QUEUE_ORDER), True: _order_sql(EASY_FIRST_ORDER)}


@cache
def _candidates_sql(vendor: str, easy_first: bool) -> str:
    return f"""
        SELECT c.id FROM {table(Clip)} c
        WHERE {_OPEN} AND NOT EXISTS (
            SELECT 1 FROM {table(Rating)} x WHERE x.clip_id = c.id AND x.rater_id = %s)
        ORDER BY {_ORDER[easy_first]} LIMIT {CANDIDATES_PER_CLAIM}
    """


@cache
def _claim_sql(vendor: str, n_candidates: int, easy_first: bool, lock: str) -> str:
    ids = ", ".join(["%s"] * n_candidates)
    return f"""
        SELECT {columns(Clip, "c")} FROM {table(Clip)} c
        WHERE c.id IN ({ids}) AND {_OPEN}
        ORDER BY {_ORDER[easy_first]} LIMIT 1 {lock}
    """


@cache
def _lease_first_open_sql(vendor: str, easy_first: bool) -> str:
    """PostgreSQL: pick, bump and lease the first open clip in one statement."""
    return f"""
        WITH picked AS (
            SELECT c.id FROM {table(Clip)} c
            WHERE {_OPEN} AND NOT EXISTS (
                SELECT 1 FROM {table(Rating)} x WHERE x.clip_id = c.id AND x.rater_id = %s)
            ORDER BY {_ORDER[easy_first]} LIMIT 1 FOR UPDATE SKIP LOCKED
        ), bumped AS (
            UPDATE {table(Clip)} SET active_leases = {table(Clip)}.active_leases + 1
            FROM picked WHERE {table(Clip)}.id = picked.id
            RETURNING {columns(Clip, table(Clip))}
        ), leased AS (
            INSERT INTO {table(Assignment)}
                (project_id, clip_id, rater_id, status, created_at, expires_at)
            SELECT %s, b.id, %s, %s, %s, %s FROM bumped b
            RETURNING {columns(Assignment, table(Assignment))}
        )
        SELECT {columns(Assignment, "a")}, {columns(Clip, "b")} FROM leased a, bumped b
    """


def _lease_first_open(
    *, rater: User, project: Project, now: datetime, easy_first: bool
) -> Assignment | None:
    """The common case of a claim in one round trip, with no transaction around it (one
    statement is atomic): the first open clip no other claim holds locked. None when
    there is none; the caller then tells "nothing left" from "all locked" the long way."""
    row = fetchone(
        _lease_first_open_sql(connection.vendor, easy_first),
        [
            project.pk,
            ClipState.AWAITING_HUMANS,
            rater.pk,
            *(project.pk, rater.pk, AssignmentStatus.ACTIVE),
            *(when(now), when(now + timedelta(seconds=project.lease_seconds))),
        ],
    )
    if row is None:
        return None
    assignment = instance(Assignment, row)
    assignment.clip = instance(Clip, row, width(Assignment))
    assignment.project, assignment.rater = project, rater
    return assignment


def _candidate_ids(*, rater: User, project: Project, easy_first: bool) -> list[int]:
    """The first open clips in queue order that the rater has not rated."""
    with connection.cursor() as cursor:
        cursor.execute(
            _candidates_sql(connection.vendor, easy_first),
            [project.pk, ClipState.AWAITING_HUMANS, rater.pk],
        )
        return [clip_id for (clip_id,) in cursor.fetchall()]


def _claim(
    *,
    rater: User,
    project: Project,
    candidate_ids: list[int],
    skip_locked: bool,
    now: datetime,
    easy_first: bool,
) -> Assignment | None:
    lock = ""
    if connection.features.has_select_for_update:
        lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
    sql = _claim_sql(connection.vendor, len(candidate_ids), easy_first, lock)
    with transaction.atomic():
        row = fetchone(sql, [*candidate_ids, project.pk, ClipState.AWAITING_HUMANS])
        if row is None:
            return None
        clip = instance(Clip, row)
        Clip.objects.filter(pk=clip.pk).update(active_leases=F("active_leases") + 1)
        return Assignment.objects.create(
            project=project,
            clip=clip,
            rater=rater,
            expires_at=now + timedelta(seconds=project.lease_seconds),
        )


def rater_require_unblocked(*, project: Project, rater: User, blocked: bool | None = None) -> None:
    """PermissionDenied `rater_blocked`, with a sentence for the rater, when an admin has
    blocked them in the project: they get no clip and can rate nothing there. `blocked`:
    the block state the caller read in this request (None: read it here)."""
    if blocked is None:
        blocked = RaterBlock.objects.filter(project=project, rater=rater).exists()
    if blocked:
        raise PermissionDenied(
            "The admins of this project have stopped your rating here, so there is nothing "
            "for you to rate. If you think this is a mistake, contact them.",
            code="rater_blocked",
        )


def _undefer_one(*, rater: User, project: Project) -> bool:
    """Bring back one deferred clip the rater has not rated (the learner's most wanted
    first) when nothing else is open, so a rater is sent away only when no clip they
    could rate needs a human. False when there is none."""
    already_rated = Rating.objects.filter(clip=OuterRef("pk"), rater=rater)
    with transaction.atomic():
        deferred = Clip.objects.filter(project=project, state=ClipState.DEFERRED).exclude(
            Exists(already_rated)
        )
        if connection.features.has_select_for_update_skip_locked:
            deferred = deferred.select_for_update(skip_locked=True)
        clip = deferred.order_by("-priority", "id").first()
        if clip is None:
            return False
        Clip.objects.filter(pk=clip.pk, state=ClipState.DEFERRED).update(
            state=ClipState.AWAITING_HUMANS,
            ratings_wanted=Greatest(F("n_ratings") + 1, project.min_raters),
        )
    return True


def assignment_next(
    *, rater: User, project: Project, known: RaterState | None = None
) -> Assignment | None:
    """Lease the rater the most wanted clip they have not rated, or None when none is left.

    A rater who already holds a live lease in the project gets that lease back, so a
    retried request never hoards clips. `known`: the rater's block state and profile as
    the caller read them in this request (else they are read here).
    """
    rater_require_unblocked(
        project=project, rater=rater, blocked=None if known is None else known.blocked
    )
    now = timezone.now()
    if known is None or known.overdue_leases:
        assignments_expire(project_id=project.pk, now=now)
    if known is None or known.live_lease_id is not None:
        live = _live_lease(rater=rater, project=project, now=now)
        if live is not None:
            return live
    easy_first = _easy_first(rater) if known is None else known.easy_first()
    if connection.vendor == "postgresql":
        leased = _lease_first_open(rater=rater, project=project, now=now, easy_first=easy_first)
        if leased is not None:
            return leased
    skip_locked = connection.features.has_select_for_update_skip_locked
    # Early passes skip clips another rater is claiming this instant; the last one waits
    # for them, so a transient lock never turns into a wrong "nothing left".
    for skip in (True, True, False) if skip_locked else (False, False):
        candidate_ids = _candidate_ids(rater=rater, project=project, easy_first=easy_first)
        if not candidate_ids:
            if not _undefer_one(rater=rater, project=project):
                return None
            candidate_ids = _candidate_ids(rater=rater, project=project, easy_first=easy_first)
            if not candidate_ids:
                continue
        assignment = _claim(
            rater=rater,
            project=project,
            candidate_ids=candidate_ids,
            skip_locked=skip,
            now=now,
            easy_first=easy_first,
        )
        if assignment is not None:
            return assignment
    return None
