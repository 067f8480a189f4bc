"""Liveness for load balancers and compose: database and broker reachable.

Anyone may ask, so the answer says only `ok` or `unavailable` per component; what went
wrong goes to the log. The broker is probed with a short timeout, so a Redis that is down
makes /healthz answer 503 at once instead of hanging the caller.
"""

import logging
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 0.5


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("healthz: the database is unavailable")
        return False
    return True


def broker_ok() -> bool:
    """Redis answers a PING within BROKER_TIMEOUT_S, or the filesystem broker's folder
    is there."""
    try:
        if settings.REDIS_URL:
            client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_connect_timeout=BROKER_TIMEOUT_S,
                socket_timeout=BROKER_TIMEOUT_S,
                retry_on_timeout=False,
            )
            try:
                client.ping()
            finally:
                client.close()
        else:
            folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
            if not folder.is_dir():
                raise FileNotFoundError(f"broker folder {folder} is missing")
    except Exception:
        logger.exception("healthz: the broker is unavailable")
        return False
    return True


def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": "ok" if database_ok() else "unavailable",
        "broker": "ok" if broker_ok() else "unavailable",
    }
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )
