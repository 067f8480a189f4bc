"""The work that follows ratings, and its periodic catch-up after a broker outage.

A rating is stored by the request (the database is the source of truth); what follows
it (reliabilities and rater noise, the re-ranked human queue, a retraining when one is
due) runs in a worker from a message that a broker outage or restart can lose. Every
step recomputes from all the project's ratings, so running it again at any time reaches
the same state: beat's catch-up (`projects_catch_up`, every
CONCORD_CATCH_UP_SECONDS) redoes it for every project with ratings, and nothing is lost
for longer than that.
"""

from datetime import datetime

from django.db.models import Max

from annotate.models import Rating


def project_after_ratings(*, project_id: int, requested_at: datetime | None = None) -> None:
    """Reliabilities and rater noise, the re-ranked human queue (skipped when a refresh
    already read data newer than `requested_at`), and a retraining when one is due."""
    from annotate.services.queue import queue_refresh
    from annotate.services.raters import rater_reliability_update
    from annotate.services.training import training_run_auto_start

    rater_reliability_update(project_id=project_id)
    queue_refresh(project_id=project_id, requested_at=requested_at)
    training_run_auto_start(project_id=project_id)


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
