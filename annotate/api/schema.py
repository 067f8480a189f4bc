"""The OpenAPI schema's error responses, derived from what each view can actually answer.

Views document their own refusals (`extend_schema(responses=...)`: 400 `too_few_labels`,
409 `project_paused`, ...). What follows from how a view is built rather than from what
it does is added here, for every operation, so the schema cannot forget it
(tests/test_api_fuzz.py fuzzes the API against it):

- 401 wherever a request is authenticated: a missing credential where one is required,
  and a bad `Authorization: Token ...` anywhere (DRF refuses it before any permission);
- 403 for every authenticated operation outside the rater's reading flow (RATER_READS):
  the rest is for researchers or admins, and a rater gets 403 `staff_only` /
  `admin_only` (tests/annotate/test_roles_everywhere.py checks it route by route); for
  unsafe methods of views that accept the session (CSRF); and wherever a permission
  class other than AllowAny / IsAuthenticated decides;
- 404 for an operation with path parameters: an id that does not exist or is not yours
  (annotate.access), or a path that does not match the route;
- 400 (`parse_error`), 413 (`body_too_large`) and 415 (`unsupported_media_type`) for an
  operation that reads a request body (annotate.api.parsers);
- 400 (`bad_page_size`) for a paginated list (annotate.api.pagination);
- 429 (`throttled`) for a throttled view.

A request serializer that takes no field beyond its own (`takes_no_other_field = True`)
says so, `additionalProperties: false`, and one that needs at least `min_fields` of them
says that: `minProperties`.

All in the API's error shape, `{"detail", "code"}` (ErrorSerializer).
"""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated

from annotate.api.serializers import ErrorSerializer

_WHY = {
    "400": "a request the endpoint refuses",
    "401": "not signed in, or a bad token",
    "403": "not allowed: the role, a blocked rater, or a missing CSRF token",
    "404": "no such object, or not yours",
    "413": "the request body is too large",
    "415": "a request body of a type the endpoint does not read",
    "429": "too many requests (Retry-After says when to retry)",
}


# Reads every member may make, with no role check: no 403 to document.
RATER_READS = {
    "ProjectListApi",
    "ProjectDetailApi",
    "ProjectProgressApi",
    "RatingListApi",
    "AssignmentAudioApi",
}


class ConcordAutoSchema(AutoSchema):
    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if getattr(serializer, "takes_no_other_field", False):
            schema["additionalProperties"] = False
        if min_fields := getattr(serializer, "min_fields", 0):
            schema["minProperties"] = min_fields
        return schema

    def _error_codes(self) -> list[str]:
        view = self.view
        codes = []
        authenticators = list(getattr(view, "authentication_classes", ()))
        permissions = list(getattr(view, "permission_classes", ()))
        if authenticators:
            codes.append("401")
        unsafe = self.method not in ("GET", "HEAD", "OPTIONS")
        decided_elsewhere = [p for p in permissions if p not in (AllowAny, IsAuthenticated)]
        staff_only = (
            bool(authenticators)
            and permissions != [AllowAny]
            and type(view).__name__ not in RATER_READS
            and self.path != "/api/v1/auth/token/"
        )
        if (
            staff_only
            or decided_elsewhere
            or (
                unsafe
                and any(issubclass(a, SessionAuthentication) for a in authenticators)
                and permissions != [AllowAny]
            )
        ):
            codes.append("403")
        if "{" in self.path:
            codes.append("404")
        if unsafe and self.get_request_serializer() is not None:
            codes += ["400", "413", "415"]
        if self.method == "GET" and self._get_paginator() is not None:
            codes.append("400")  # a page_size that is not a whole number >= 1
        if getattr(view, "throttle_classes", ()):
            codes.append("429")
        return codes

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = _WHY[code]
                responses[code] = response
        return dict(sorted(responses.items()))
