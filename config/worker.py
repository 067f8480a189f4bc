"""The command line of a Celery worker serving both of Concord's queues."""

import sys

QUEUES = "celery,learner"


def worker_command(*, concurrency: int, loglevel: str, options: tuple[str, ...] = ()) -> list[str]:
    """`celery -A config worker -Q celery,learner` with this interpreter, plus options."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        QUEUES,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        *options,
    ]
