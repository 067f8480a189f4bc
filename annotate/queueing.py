"""Putting work on the Celery queue without letting a broker outage fail the caller."""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task, *args) -> bool:
    """Send `task(*args)` now; on a broker error log it and return False.

    The database holds the truth, so a lost message only delays work that a periodic
    task or the next event redoes.
    """
    try:
        task.delay(*args)
    except Exception:
        logger.exception("could not enqueue %s%s", task.name, args)
        return False
    return True


def enqueue_on_commit(task, *args) -> None:
    """Send `task(*args)` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue(task, *args))
