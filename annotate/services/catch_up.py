"""The work that follows ratings, and its periodic catch-up after a broker outage.

A rating is stored by the request (the database is the source of truth); what follows
it (reliabilities and rater noise, the re-ranked human queue, a retraining when one is
due) runs in a worker from a message that a broker outage or restart can lose. Every
step recomputes from all the project's ratings, so running it again at any time reaches
the same state: beat's catch-up (`projects_catch_up`, every
CONCORD_CATCH_UP_SECONDS) redoes it for every project with ratings, and nothing is lost
for longer than that.

A pass refits the queue's ensemble and scores the whole pool, so passes start at most
once per CONCORD_AFTER_RATINGS_SECONDS per project (`project_after_ratings_requested`):
back to back, they kept a worker busy all the time under a crowd of raters.
"""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from annotate.models import Project, Rating
from annotate.rawsql import fetchone, instance_value, table


def project_after_ratings(*, project_id: int, requested_at: datetime | None = None) -> None:
    """Reliabilities and rater noise, the re-ranked human queue and a retraining when one
    is due; nothing when a pass that began at or after `requested_at` has done it."""
    from annotate.services.queue import queue_refresh
    from annotate.services.raters import rater_reliability_update
    from annotate.services.training import training_run_auto_start

    started = timezone.now()
    # A burst of ratings shares one pass: each rating asks for one, and a pass that began
    # after a request was made has read its rating (one per rating held 500 raters' ratings
    # behind a worker re-reading every rating of the project each time).
    if (
        requested_at is not None
        and Project.objects.filter(pk=project_id, ratings_processed_at__gte=requested_at).exists()
    ):
        return
    rater_reliability_update(project_id=project_id)
    queue_refresh(project_id=project_id, requested_at=requested_at)
    training_run_auto_start(project_id=project_id)
    Project.objects.filter(pk=project_id).update(ratings_processed_at=started)


# A deferred pass whose message is this late counts as lost: the next request defers another.
DEFERRED_PASS_GRACE = timedelta(seconds=60)


def project_after_ratings_requested(
    *, project_id: int, requested_at: datetime | None, deferred: bool = False
) -> None:
    """What a rating's message asks for: `project_after_ratings` now, or one pass deferred
    until CONCORD_AFTER_RATINGS_SECONDS after the last one began, or nothing when a pass
    is already pending (it clears its mark before reading any rating, so it reads this
    request's). `deferred`: this is that pending pass; its message is sent at once and
    it waits here until it is due (a countdown message would sit unacknowledged in the
    worker, and kombu's Redis transport crashes the worker restoring such messages when
    Redis restarts)."""
    from annotate.queueing import enqueue
    from annotate.tasks import project_after_ratings_task

    projects = Project.objects.filter(pk=project_id)
    interval = timedelta(seconds=settings.CONCORD_AFTER_RATINGS_SECONDS)
    if deferred:
        due = projects.values_list("after_ratings_due_at", flat=True).first()
        wait = (due - timezone.now()).total_seconds() if due is not None else 0.0
        time.sleep(min(max(wait, 0.0), interval.total_seconds()))
        projects.update(after_ratings_due_at=None, after_ratings_started_at=timezone.now())
        project_after_ratings(project_id=project_id)
        return
    last = projects.values_list("ratings_processed_at", flat=True).first()
    if requested_at is not None and last is not None and last >= requested_at:
        return  # a pass that began after this request has read its rating
    now = timezone.now()
    # Run at once unless a pass started within the interval: claimed in one statement, so
    # two messages taken at the same instant by two worker processes start one pass (both
    # ran, side by side, each scoring the whole pool).
    if projects.filter(
        Q(after_ratings_started_at__isnull=True) | Q(after_ratings_started_at__lte=now - interval)
    ).update(after_ratings_started_at=now):
        try:
            project_after_ratings(project_id=project_id, requested_at=requested_at)
        except Exception:
            # A failed pass serves nothing: its retry (or the next request) runs at once.
            projects.filter(after_ratings_started_at=now).update(after_ratings_started_at=None)
            raise
        return
    started = projects.values_list("after_ratings_started_at", flat=True).first() or now
    claimed = projects.filter(
        Q(after_ratings_due_at__isnull=True) | Q(after_ratings_due_at__lt=now - DEFERRED_PASS_GRACE)
    ).update(after_ratings_due_at=max(started, last or started) + interval)
    if claimed and not enqueue(project_after_ratings_task, project_id, None, True):
        projects.update(after_ratings_due_at=None)  # the next request tries again


def project_after_ratings_pending(*, project_id: int, now: datetime) -> bool:
    """Whether a deferred pass is pending (claimed, and its message not overdue). A
    rating committed before this reads True needs no message of its own: the pending
    pass clears its mark before it reads any rating, so it reads that one."""
    row = fetchone(f"SELECT after_ratings_due_at FROM {table(Project)} WHERE id = %s", [project_id])
    if row is None or row[0] is None:
        return False
    due: datetime = instance_value(Project, "after_ratings_due_at", row[0])
    return due >= now - DEFERRED_PASS_GRACE


def projects_catch_up() -> int:
    """`project_after_ratings` for every project with ratings, as of its newest rating;
    returns how many projects."""
    newest = (
        Rating.objects.values("clip__project_id")
        .annotate(last=Max("created_at"))
        .order_by("clip__project_id")
        .values_list("clip__project_id", "last")
    )
    rows = list(newest)
    for project_id, last in rows:
        project_after_ratings(project_id=project_id, requested_at=last)
    return len(rows)
