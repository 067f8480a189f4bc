"""The API token endpoint, with the sign-in lockout, and the API's throttles."""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from annotate.auth import client_address, lockout_sentence
from annotate.services.auth import login_lockout_remaining


class _SettingRateThrottle(SimpleRateThrottle):
    """A throttle whose rate is a Concord setting, read on each request (empty: none)."""

    rate_setting = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.rate_setting) or None

    def allow_request(self, request: Any, view: Any) -> bool:
        # The rate is read per request, so that a changed setting applies at once.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class TokenThrottle(_SettingRateThrottle):
    """Token requests per address (CONCORD_TOKEN_RATE)."""

    scope = "token"
    rate_setting = "CONCORD_TOKEN_RATE"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RatingThrottle(_SettingRateThrottle):
    """Ratings per rater (CONCORD_RATING_RATE), at a rate no human listening reaches."""

    scope = "rating"
    rate_setting = "CONCORD_RATING_RATE"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


def _locked_out(request: Request) -> None:
    data = request.data if isinstance(request.data, Mapping) else {}
    username = data.get("username")
    if isinstance(username, str) and (
        seconds := login_lockout_remaining(username=username, address=client_address(request))
    ):
        raise Throttled(wait=seconds, detail=lockout_sentence(seconds))


class TokenApi(ObtainAuthToken):
    """`{username, password}` -> `{token}`. Throttled per address; after repeated failures
    the username is locked out from the address (429 `throttled` with Retry-After), the
    right password included."""

    throttle_classes = (TokenThrottle,)

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _locked_out(request)
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            _locked_out(request)  # this failure may be the one that locked it
            raise
