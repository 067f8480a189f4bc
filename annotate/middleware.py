"""Content-Security-Policy on every response (Django 5.2 has none of its own)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    """Sets settings.CONCORD_CSP, or the policy settings.CONCORD_CSP_PAGES gives the
    request's path, unless the view set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONCORD_CSP_PAGES.get(request.path, settings.CONCORD_CSP)
        if policy:
            response.headers.setdefault("Content-Security-Policy", policy)
        return response
