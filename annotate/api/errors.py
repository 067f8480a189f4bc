"""Maps domain errors to JSON responses: `{"detail": message, "code": code}`."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotate.errors import ConcordError


def exception_handler(exc, context):
    if isinstance(exc, ConcordError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return drf_exception_handler(exc, context)
