"""Taking ratings: validation, idempotent storage, and what a clip needs next."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from annotate.errors import Conflict, NotFound, ValidationError
from annotate.learning.settle import ClipSettlement, clip_settlement, settlement_reads
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Clip,
    ClipState,
    Label,
    LabelSource,
    Project,
    Rating,
    RatingSource,
    Target,
)
from annotate.project_config import project_targets
from annotate.queueing import enqueue
from annotate.rawsql import (
    Row,
    Statement,
    columns,
    fetch_sets,
    fetchone,
    instance,
    table,
    update_from_values,
    when,
)

MIN_CLIENT_TOKEN = 8
MAX_CLIENT_TOKEN = 64
MAX_TIME_SPENT_MS = 2**31 - 1  # Rating.time_spent_ms: a 32-bit integer column on PostgreSQL


@dataclass(frozen=True)
class SubmitResult:
    rating: Rating
    created: bool


def _as_number(target: Target, raw: object) -> float:
    # bool is an int subclass: true/false are not ratings.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValidationError(
            f"value for '{target.name}' must be a number, got {type(raw).__name__}",
            code="not_a_number",
        )
    try:
        value = float(raw)
    except OverflowError:  # an integer too large for any float
        raise ValidationError(
            f"value for '{target.name}' is far outside its scale "
            f"[{target.scale_min}, {target.scale_max}]",
            code="out_of_scale",
        ) from None
    if not math.isfinite(value):
        raise ValidationError(
            f"value for '{target.name}' must be finite, got {raw}", code="not_finite"
        )
    if not target.scale_min <= value <= target.scale_max:
        raise ValidationError(
            f"value for '{target.name}' is {value}, outside its scale "
            f"[{target.scale_min}, {target.scale_max}]",
            code="out_of_scale",
        )
    return value


def _shown(name: str, limit: int = 40) -> str:
    """A name a client sent, cut short for an error message."""
    return name if len(name) <= limit else f"{name[:limit]}..."


def rating_values_validate(
    *, targets: Sequence[Target], values: object, partial: bool = False
) -> dict[str, float]:
    """Checked `{target: value}`: every target present (with `partial`, at least one),
    known, finite and on its scale."""
    if not isinstance(values, Mapping):
        raise ValidationError("values must be an object {target: number}", code="bad_values")
    known = {target.name: target for target in targets}
    unknown = sorted(map(str, set(values) - set(known)))
    if unknown:
        shown = ", ".join(_shown(name) for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise ValidationError(
            f"unknown target(s): {shown}{more}; this project rates {', '.join(known)}",
            code="unknown_target",
        )
    missing = [name for name in known if name not in values]
    if missing and (not partial or len(missing) == len(known)):
        raise ValidationError(
            f"missing value for target(s): {', '.join(missing)}", code="missing_target"
        )
    return {
        name: _as_number(target, values[name]) for name, target in known.items() if name in values
    }


def _replayed(*, rater: User, client_token: str, assignment_id: int) -> Rating | None:
    rating = Rating.objects.filter(rater=rater, client_token=client_token).first()
    if rating is not None and rating.assignment_id != assignment_id:
        raise Conflict(
            f"client_token {client_token!r} was already used for another assignment",
            code="token_reused",
        )
    return rating


def _lease_conflict(*, assignment: Assignment, now: datetime) -> Conflict | None:
    """Why the lease cannot be rated (already rated, or expired), or None while it runs."""
    assignment.refresh_from_db(fields=["status"])
    if assignment.status == AssignmentStatus.COMPLETED:
        return Conflict(f"assignment {assignment.pk} was already rated", code="already_rated")
    if assignment.status == AssignmentStatus.ACTIVE and assignment.expires_at > now:
        return None
    return _expired(assignment)


def _lease_complete(*, assignment: Assignment, now: datetime) -> None:
    """Mark the live lease completed, or say why it cannot be rated (409)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(Assignment)} SET status = %s "
            "WHERE id = %s AND status = %s AND expires_at > %s",
            [AssignmentStatus.COMPLETED, assignment.pk, AssignmentStatus.ACTIVE, when(now)],
        )
        if cursor.rowcount:
            return
    raise _lease_conflict(assignment=assignment, now=now) or _expired(assignment)


def _expired(assignment: Assignment) -> Conflict:
    return Conflict(
        f"the lease of assignment {assignment.pk} expired at "
        f"{assignment.expires_at.isoformat()}; ask for the next clip",
        code="lease_expired",
    )


@cache
def _complete_and_insert_sql(vendor: str) -> str:
    """PostgreSQL: complete the live lease and insert its rating, in one statement (no
    row when the lease is not live)."""
    return f"""
        WITH done AS (
            UPDATE {table(Assignment)} SET status = %s
            WHERE id = %s AND status = %s AND expires_at > %s
            RETURNING id, clip_id
        )
        INSERT INTO {table(Rating)} (clip_id, rater_id, assignment_id, "values",
            time_spent_ms, client_token, source, created_at)
        SELECT done.clip_id, %s, done.id, %s, %s, %s, %s, %s FROM done
        RETURNING {columns(Rating, table(Rating))}
    """


def _rating_insert(
    *,
    rater: User,
    assignment: Assignment,
    values: dict[str, float],
    client_token: str,
    time_spent_ms: int | None,
    now: datetime,
) -> Rating:
    """Complete the live lease and store its rating (IntegrityError when the rater rated
    the clip or used the client_token already); a 409 when the lease is not live."""
    if connection.vendor != "postgresql":
        _lease_complete(assignment=assignment, now=now)
        return Rating.objects.create(
            clip_id=assignment.clip_id,
            rater=rater,
            assignment=assignment,
            values=values,
            time_spent_ms=time_spent_ms,
            client_token=client_token,
        )
    row = fetchone(
        _complete_and_insert_sql(connection.vendor),
        [
            *(AssignmentStatus.COMPLETED, assignment.pk, AssignmentStatus.ACTIVE, when(now)),
            rater.pk,
            Rating._meta.get_field("values").get_db_prep_value(values, connection),
            *(time_spent_ms, client_token, RatingSource.RATER, when(now)),
        ],
    )
    if row is None:
        raise _lease_conflict(assignment=assignment, now=now) or _expired(assignment)
    return instance(Rating, row)


def _rating_store(
    *,
    rater: User,
    assignment: Assignment,
    values: object,
    client_token: str,
    time_spent_ms: int | None,
) -> Rating:
    """Validate and store a new rating for the lease; raises when it cannot be stored
    (the caller then looks for a replay of the same client_token)."""
    if assignment.rater_id != rater.pk:
        raise NotFound("this assignment does not exist or is not yours", code="no_assignment")
    project = assignment.project
    targets = project_targets(project)
    checked_values = rating_values_validate(targets=targets, values=values)
    if time_spent_ms is not None and (
        isinstance(time_spent_ms, bool)
        or not isinstance(time_spent_ms, int)
        or not 0 <= time_spent_ms <= MAX_TIME_SPENT_MS
    ):
        raise ValidationError(
            f"time_spent_ms must be an integer from 0 to {MAX_TIME_SPENT_MS}",
            code="bad_time_spent",
        )
    with transaction.atomic():
        try:
            # No savepoint: a broken unique constraint rolls the whole rating back,
            # the lease's completion included.
            rating = _rating_insert(
                rater=rater,
                assignment=assignment,
                values=checked_values,
                time_spent_ms=time_spent_ms,
                client_token=client_token,
                now=timezone.now(),
            )
        except IntegrityError:
            raise Conflict("you have already rated this clip", code="already_rated") from None
        # The lease's slot is given back in the same write that settles the clip.
        clip_settle(
            clip_id=assignment.clip_id, targets=targets, release_lease=True, project=project
        )
        transaction.on_commit(lambda: _after_rating(project.pk))
    return rating


def rating_submit(
    *,
    rater: User,
    assignment: Assignment,
    values: object,
    client_token: str,
    time_spent_ms: int | None = None,
) -> SubmitResult:
    """Store a rater's rating for their lease, exactly once per client_token.

    The same request again returns the stored rating (created=False); a client_token
    already used for another assignment is a 409 `token_reused`. Completes the lease,
    updates the clip's counters and label, and decides whether it needs more raters
    (`clip_settle`). `assignment` is the rater's own lease, as
    `annotate.access.assignment_get_for_rater` resolves it (with its clip and project).

    The stored rating of a replay is looked up only when the rating cannot be stored
    (the unique client_token refuses a second one), so a new rating costs no query for it.
    """
    if (
        not isinstance(client_token, str)
        or not MIN_CLIENT_TOKEN <= len(client_token) <= MAX_CLIENT_TOKEN
    ):
        raise ValidationError(
            f"client_token must be a string of {MIN_CLIENT_TOKEN} to {MAX_CLIENT_TOKEN} characters",
            code="bad_token",
        )
    try:
        rating = _rating_store(
            rater=rater,
            assignment=assignment,
            values=values,
            client_token=client_token,
            time_spent_ms=time_spent_ms,
        )
    except (ValidationError, NotFound, Conflict):
        # A replay (or a parallel copy of this very request that won) gets the stored
        # rating back, whatever the refusal would have been.
        replay = _replayed(rater=rater, client_token=client_token, assignment_id=assignment.pk)
        if replay is not None:
            return SubmitResult(replay, created=False)
        raise
    return SubmitResult(rating, created=True)


def _after_rating(project_id: int) -> None:
    from annotate.services.catch_up import project_after_ratings_pending
    from annotate.tasks import project_after_ratings_task

    now = timezone.now()
    try:
        if project_after_ratings_pending(project_id=project_id, now=now):
            return  # that pass reads this rating: no message, and no task for a worker
    except DatabaseError:
        pass  # the rating is stored; the message below decides in the worker instead
    # A broker outage only delays this: the next rating, or the periodic refresh, redoes it.
    enqueue(project_after_ratings_task, project_id, now.isoformat())


def _live_labels_read(clip_id: int) -> Statement:
    """The clip's live labels, locked to the end of the transaction (statement, params)."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return (
        f"SELECT {columns(Label, 'l')} FROM {table(Label)} l "
        f"WHERE l.clip_id = %s AND l.revoked_at IS NULL{lock}",
        [clip_id],
    )


def _human_labels_write(*, clip: Clip, plan: ClipSettlement, live_rows: list[Row]) -> None:
    """Write the clip's human labels from its settlement, in a fixed number of queries
    whatever the number of targets: revoke what goes, create what is new, update what
    stays. `live_rows`: the clip's live labels, read and locked by `_live_labels_read`."""
    settled = plan.settlement
    now = timezone.now()
    live = {label.target: label for label in (instance(Label, row) for row in live_rows)}
    excluded: list[int] = []  # human labels whose every rating was excluded (a blocked rater's)
    replaced: list[int] = []  # machine labels human ratings replace
    new: list[Label] = []
    kept: list[Label] = []
    for t, target in enumerate(plan.targets):
        label = live.get(target.name)
        if settled.counts[t] == 0:
            if label is not None and label.source == LabelSource.HUMAN:
                excluded.append(label.pk)
            continue
        value, n_ratings = float(settled.labels[t]), int(settled.counts[t])
        agreement = float(settled.agreement[t])
        if label is not None and label.source == LabelSource.HUMAN:
            label.value, label.n_ratings, label.agreement = value, n_ratings, agreement
            kept.append(label)
            continue
        if label is not None:
            replaced.append(label.pk)
        new.append(
            Label(
                clip=clip,
                target=target.name,
                value=value,
                source=LabelSource.HUMAN,
                n_ratings=n_ratings,
                agreement=agreement,
            )
        )
    if excluded or replaced:
        Label.objects.filter(pk__in=excluded + replaced).update(
            revoked_at=now,
            revoked_reason=Case(
                When(pk__in=excluded, then=Value("its ratings were excluded")),
                default=Value("human ratings arrived"),
            ),
        )
    if new:
        Label.objects.bulk_create(new)
    if kept:
        update_from_values(
            Label,
            {"value": "DOUBLE PRECISION", "n_ratings": "INTEGER", "agreement": "DOUBLE PRECISION"},
            [(x.pk, x.value, x.n_ratings, x.agreement) for x in kept],
        )


def _clip_lock_read(clip_id: int) -> Statement:
    """The clip, its row locked to the end of the transaction; its project's row is not
    (a lock on it would queue every rating of the project behind one another)."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return f"SELECT {columns(Clip, 'c')} FROM {table(Clip)} c WHERE c.id = %s{lock}", [clip_id]


def _clip_from(rows: list[Row], clip_id: int) -> Clip:
    if not rows:
        raise Clip.DoesNotExist(f"clip {clip_id} does not exist")
    return instance(Clip, rows[0])


def clip_settle(
    *,
    clip_id: int,
    targets: Sequence[Target] | None = None,
    release_lease: bool = False,
    project: Project | None = None,
) -> Clip:
    """Recompute a clip's human labels, agreement and state from all its ratings.

    The labels and the raters it still wants come from annotate.learning.settle
    (learner.raters.settle_clip): once a target's crowd noise is known, a label weights
    each rating by 1 / noise^2 of its rater, and the clip asks one more rater while its
    label is less certain than the mean of `rater_panel` typical raters; before that,
    labels are reliability-weighted (EWE) and the clip asks one more while its lowest
    agreement is below `agreement_target`; never beyond `max_raters`. A clip open to
    humans then stays with them while it has fewer ratings than wanted, else it is
    rated. Safe to call again at any time.

    `targets`: the project's targets when the caller has read them already;
    `release_lease`: a lease of the clip was just rated, so one leased slot is given back
    (in the same UPDATE, under the clip's row lock); `project`: the clip's project as
    the caller read it in this request. A fixed number of queries whatever
    the clip's ratings, raters or the project's targets.
    """
    # Nested in a rating's transaction it needs no savepoint of its own: any error rolls
    # the rating back too.
    with transaction.atomic(savepoint=False):
        if project is None:
            (clip_rows,) = fetch_sets([_clip_lock_read(clip_id)])
            project = Project.objects.get(pk=_clip_from(clip_rows, clip_id).project_id)
            reads = []
        else:
            reads = [_clip_lock_read(clip_id)]
        # The lock first, then every read of the settlement and the live labels: one
        # round trip on PostgreSQL.
        *sets, label_rows = fetch_sets(
            [
                *reads,
                *settlement_reads(clip_id=clip_id, project=project),
                _live_labels_read(clip_id),
            ]
        )
        if reads:
            clip_rows = sets.pop(0)
        clip = _clip_from(clip_rows, clip_id)
        if release_lease:
            clip.active_leases = max(clip.active_leases - 1, 0)
        plan = clip_settlement(clip=clip, project=project, targets=targets, read=sets)
        settled = plan.settlement
        _human_labels_write(clip=clip, plan=plan, live_rows=label_rows)
        clip.n_ratings = settled.n_ratings
        if settled.n_ratings and clip.state in (ClipState.AWAITING_HUMANS, ClipState.RATED):
            clip.ratings_wanted = settled.ratings_wanted
            clip.state = ClipState.AWAITING_HUMANS if settled.needs_humans else ClipState.RATED
        elif not settled.n_ratings and clip.state == ClipState.RATED:
            clip.ratings_wanted = project.min_raters
            clip.state = ClipState.AWAITING_HUMANS
        fields = ["n_ratings", "ratings_wanted", "state"]
        if release_lease:
            fields.append("active_leases")
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table(Clip)} SET {', '.join(f'{f} = %s' for f in fields)} WHERE id = %s",
                [*(getattr(clip, f) for f in fields), clip.pk],
            )
    return clip


def clips_resettle(*, project: Project, rater: User) -> int:
    """Settle again every clip of the project the rater rated (after their ratings were
    excluded from labels or let back in); returns how many."""
    clip_ids = list(
        Rating.objects.filter(clip__project=project, rater=rater)
        .values_list("clip_id", flat=True)
        .distinct()
    )
    for clip_id in clip_ids:
        clip_settle(clip_id=clip_id, project=project)
    return len(clip_ids)
