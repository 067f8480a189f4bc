"""Every API refusal in one shape: `{"detail": message, "code": code}`.

Domain errors (annotate.errors.ConcordError) carry their own message and code. DRF's
own refusals (authentication 401/403, method not allowed 405, parse errors 400,
unsupported media type 415, throttled 429, serializer validation 400) and Django's
Http404 / PermissionDenied raised inside API views are flattened to the same shape, with
DRF's code (`not_authenticated`, `method_not_allowed`, `parse_error`, `throttled`, ...)
and the headers DRF sets (`WWW-Authenticate`, `Allow`, `Retry-After`). Errors outside
DRF views (unknown URLs under /api/, crashes) are answered in the same shape by
config.urls' handlers through `api_error_response`.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotate.errors import ConcordError

API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def api_error_response(status: int, detail: str, code: str) -> JsonResponse:
    """A JSON error for requests that never reached a DRF view."""
    return JsonResponse({"detail": detail, "code": code}, status=status)


def _first_code(codes: Any, default: str) -> str:
    """The first code in DRF's nested `get_codes()` structure."""
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        for value in codes.values():
            return _first_code(value, default)
    if isinstance(codes, list):
        for value in codes:
            return _first_code(value, default)
    return default


def _message(detail: Any, field: str | None = None) -> str:
    """One sentence from DRF's detail: a string, or a list / dict of them (fields named;
    `non_field_errors` is not a field)."""
    if isinstance(detail, dict):
        parts = [
            _message(value, None if key == "non_field_errors" else str(key))
            for key, value in detail.items()
        ]
        return "; ".join(p for p in parts if p)
    if isinstance(detail, list):
        text = " ".join(_message(value) for value in detail)
    else:
        text = str(detail)
    return f"{field}: {text}" if field else text


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ConcordError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return None  # not an API error: Django's handler500 answers in the same shape
    message = _message(exc.detail) or str(exc.default_detail)
    code = _first_code(exc.get_codes(), exc.default_code)
    response.data = {"detail": message, "code": code}
    return response
