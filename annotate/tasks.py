"""Celery tasks: ids in, one service call, done. Each is safe to run twice.

Tasks named `learner_*` are routed to the `learner` queue (settings.CELERY_TASK_ROUTES),
so training and scoring never delay the rating traffic on the default `celery` queue.
"""

from datetime import datetime

from celery import shared_task


@shared_task(ignore_result=True)
def assignments_expire_task() -> int:
    from annotate.services.assignments import assignments_expire

    return assignments_expire()


@shared_task(ignore_result=True)
def project_after_ratings_task(project_id: int, requested_at: str | None = None) -> None:
    """Reliabilities, the re-ranked human queue, and a retraining when it is due."""
    from annotate.services.queue import queue_refresh
    from annotate.services.raters import rater_reliability_update
    from annotate.services.training import training_run_auto_start

    rater_reliability_update(project_id=project_id)
    queue_refresh(
        project_id=project_id,
        requested_at=datetime.fromisoformat(requested_at) if requested_at else None,
    )
    training_run_auto_start(project_id=project_id)


@shared_task(ignore_result=True)
def rater_reliability_refresh_task() -> None:
    """Periodic catch-up for updates lost while the broker was down."""
    from annotate.services.raters import rater_reliability_refresh

    rater_reliability_refresh()


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def learner_features_extract_task(clip_ids: list[int]) -> int:
    from annotate.services.features import clip_features_extract

    return clip_features_extract(clip_ids=clip_ids)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def learner_training_run_task(run_id: int) -> None:
    from annotate.services.training import training_run_execute

    training_run_execute(run_id=run_id)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def learner_project_score_task(project_id: int) -> None:
    from annotate.services.scoring import project_score

    project_score(project_id=project_id)


@shared_task(ignore_result=True)
def training_runs_reap_task() -> int:
    from annotate.services.training import training_runs_reap

    return training_runs_reap()


@shared_task(ignore_result=True)
def project_snapshots_task() -> int:
    """The dashboard's points over time: every project's counts (skipped when unchanged)."""
    from annotate.services.snapshots import project_snapshots_take_all

    return project_snapshots_take_all()
