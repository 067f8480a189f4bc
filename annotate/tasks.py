"""Celery tasks: ids in, one service call, done. Each is safe to run twice
(tests/annotate/test_task_idempotence.py), so each retries transient database and broker
errors with exponential backoff and jitter (RETRY).

Tasks named `learner_*` are routed to the `learner` queue (settings.CELERY_TASK_ROUTES),
so training and scoring never delay the rating traffic on the default `celery` queue.
"""

from datetime import datetime

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# A database restarting or a broker briefly away: retried after about 2, 4, 8 ... s (at
# most 5 min, jittered), 8 times; anything else fails the task as before.
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    BrokerError,
    RedisConnectionError,
    RedisTimeoutError,
)
RETRY: dict = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(ignore_result=True, **RETRY)
def assignments_expire_task() -> int:
    from annotate.services.assignments import assignments_expire

    return assignments_expire()


@shared_task(ignore_result=True, **RETRY)
def project_after_ratings_task(
    project_id: int, requested_at: str | None = None, deferred: bool = False
) -> None:
    """Reliabilities, the re-ranked human queue, and a retraining when it is due."""
    from annotate.services.catch_up import project_after_ratings_requested

    project_after_ratings_requested(
        project_id=project_id,
        requested_at=datetime.fromisoformat(requested_at) if requested_at else None,
        deferred=deferred,
    )


@shared_task(ignore_result=True, **RETRY)
def rater_reliability_refresh_task() -> None:
    """Periodic catch-up for work lost while the broker was down: what follows ratings,
    redone for every project (annotate.services.catch_up)."""
    from annotate.services.catch_up import projects_catch_up

    projects_catch_up()


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True, **RETRY)
def learner_features_extract_task(clip_ids: list[int]) -> int:
    from annotate.services.features import clip_features_extract

    return clip_features_extract(clip_ids=clip_ids)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True, **RETRY)
def learner_training_run_task(run_id: int) -> None:
    from annotate.services.training import training_run_execute

    training_run_execute(run_id=run_id)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True, **RETRY)
def learner_project_score_task(project_id: int) -> None:
    from annotate.services.scoring import project_score

    project_score(project_id=project_id)


@shared_task(ignore_result=True, **RETRY)
def training_runs_reap_task() -> int:
    from annotate.services.training import training_runs_reap

    return training_runs_reap()


@shared_task(ignore_result=True, **RETRY)
def sessions_clear_expired_task() -> None:
    """Deletes expired browser sessions (Django's `clearsessions`), which nothing else does."""
    from annotate.sessions import SessionStore

    SessionStore.clear_expired()


@shared_task(ignore_result=True, **RETRY)
def project_snapshots_task() -> int:
    """The dashboard's points over time: every project's counts (skipped when unchanged)."""
    from annotate.services.snapshots import project_snapshots_take_all

    return project_snapshots_take_all()
