"""A database that is down or restarting answers 503 with Retry-After, not a crash.

django.db's OperationalError / InterfaceError (connection refused, the server shutting
down, a connection it terminated) are mapped to 503 `{"detail", "code":
"database_unavailable"}` under /api/ and a short plain page elsewhere, with `Retry-After`.
Django then drops the broken connection at the end of the request
(CONN_HEALTH_CHECKS, `close_if_unusable_or_obsolete`), so the first request after the
database is back opens a new one: no restart of the app.

Errors raised by a view (DRF's handler leaves them to Django) arrive in
`process_exception`. Errors raised elsewhere in the request (a session saved by
SessionMiddleware) have already become Django's 500 when they reach this middleware: the
`got_request_exception` signal marks such requests and the 500 is replaced by the 503.
"""

import logging
import sys
from collections.abc import Callable

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DATABASE_ERRORS = (OperationalError, InterfaceError)
_MARK = "_concord_database_unavailable"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Concord: back in a moment</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto;
padding: 0 1rem"><h1>Back in a moment</h1>
<p>Concord cannot reach its database right now. Nothing you sent before this page was
lost. Please try again in a few seconds.</p></body></html>
"""


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "detail": "the database is unavailable; try again in a few seconds",
                "code": "database_unavailable",
            },
            status=503,
        )
    else:
        response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _mark_database_errors(sender: object, request: HttpRequest | None = None, **kwargs) -> None:
    """Django sends this while it handles an uncaught exception (sys.exc_info is it)."""
    if request is not None and isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        setattr(request, _MARK, True)


got_request_exception.connect(_mark_database_errors, dispatch_uid="concord-database-unavailable")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, _MARK, False):
            return database_unavailable_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        logger.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response(request)
