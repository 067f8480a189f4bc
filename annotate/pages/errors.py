"""Error pages, and the same errors as JSON for requests under /api/.

config.urls names these as Django's handler400/403/404/500. A page request gets a
styled page saying what happened and where to go; an API request that never reached a
DRF view (an unknown URL under /api/, a crash) gets `{"detail", "code"}` like every
other API error (annotate.api.errors).
"""

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.urls import Resolver404
from django.views import defaults

from annotate.api.errors import api_error_response, is_api_request


def _message(exception: Exception | None) -> str:
    """The message an Http404 / PermissionDenied was raised with (annotate.access words
    it the same for a missing and a foreign object), if it is a plain sentence; a
    resolver miss carries its URL patterns, which are not for users."""
    if exception is None or isinstance(exception, Resolver404) or not exception.args:
        return ""
    first = exception.args[0]
    return first if isinstance(first, str) else ""


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_error_response(400, "bad request", "bad_request")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    message = _message(exception)
    if is_api_request(request):
        return api_error_response(403, message or "you may not do this", "permission_denied")
    return render(request, "403.html", {"message": message}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    message = _message(exception)
    if is_api_request(request):
        if isinstance(exception, Resolver404) or not message:
            message = f"no API endpoint at {request.method} {request.path}"
        return api_error_response(404, message, "not_found")
    return render(request, "404.html", {"message": message}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without a request context: whatever failed (the database, a context
    processor) must not fail the error page too."""
    if is_api_request(request):
        return api_error_response(500, "server error; it has been logged", "server_error")
    return HttpResponseServerError(loader.get_template("500.html").render())
