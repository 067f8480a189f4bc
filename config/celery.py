"""Celery application: `celery -A config worker -Q celery,learner` serves both queues."""

import os
import sys

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("concord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def worker_threads_limit(**_: object) -> None:
    """Each pool process runs its numerical work (BLAS, OpenMP, torch) on
    CONCORD_WORKER_THREADS threads, 1 unless set: with --concurrency at the number of
    cores, more threads per process oversubscribe them, and the web requests of the same
    machine wait behind a retraining (bench.load)."""
    threads = int(os.environ.get("CONCORD_WORKER_THREADS", "1"))
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for torch, if it is imported later
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    threadpool_limits(limits=threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


@worker_process_init.connect
def worker_priority_lower(**_: object) -> None:
    """Each pool process runs CONCORD_WORKER_NICE (10 unless set) steps below the worker's
    own priority: on a machine that also serves raters, a retraining takes the CPU the
    web requests leave rather than theirs (bench.load: with a retrain running through a
    level of 200 raters, the p95 of next and rating). On a worker machine of its own it
    changes nothing."""
    nice = int(os.environ.get("CONCORD_WORKER_NICE", "10"))
    if nice > 0:
        os.nice(nice)


@task_prerun.connect
@task_postrun.connect
def database_connections_tidy(task: object = None, **_: object) -> None:
    """Close a database connection that failed or outlived CONN_MAX_AGE, and check the
    others' health on their next use, as Django does around each request: the worker
    keeps its connection across tasks (CELERY_DB_REUSE_MAX). Not for a task run eagerly,
    inside its caller's request or transaction."""
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
