"""Browser sessions read with their user in one query (SESSION_ENGINE = "annotate.sessions").

Django's database sessions read the session row, then the authentication middleware reads
the user: two round trips on every request of a rater's browser. Here the session row
(annotate.models.UserSession) carries its user's id, and loading it joins the user and
their profile; the middleware hands that user to the authentication backend
(annotate.auth.LockoutModelBackend.get_user), and Django's own checks run on it unchanged:
the backend in the session, the password hash the session was signed in with, an
inactive user refused. A user read in the same query as their session is never staler
than one read after it.
"""

import contextvars
import logging
from collections.abc import Callable
from functools import cache
from typing import Any, cast

from django.contrib import auth
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.exceptions import SuspiciousOperation
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from annotate.models import RaterProfile, UserSession
from annotate.rawsql import columns, fetchone, instance, table, when, width

# The user read with the request's session, while the backend resolves the session's user.
session_user: contextvars.ContextVar[User | None] = contextvars.ContextVar(
    "session_user", default=None
)


@cache
def _session_sql(vendor: str) -> str:
    return f"""
        SELECT {columns(UserSession, "s")}, {columns(User, "u")}, {columns(RaterProfile, "p")}
        FROM {table(UserSession)} s
            LEFT JOIN {table(User)} u ON u.id = s.user_id
            LEFT JOIN {table(RaterProfile)} p ON p.user_id = u.id
        WHERE s.session_key = %s AND s.expire_date > %s
    """


class SessionStore(DBStore):
    """Django's database session store on UserSession; `user` is the session's user as
    read with it (None: signed out, or not loaded yet)."""

    user: User | None = None

    @classmethod
    def get_model_class(cls) -> type[UserSession]:
        return UserSession

    def create_model_instance(self, data: dict[str, Any]) -> UserSession:
        session = cast(UserSession, super().create_model_instance(data))
        user_id = str(data.get(auth.SESSION_KEY) or "")
        session.user_id = int(user_id) if user_id.isdigit() else None
        return session

    def _get_session_from_db(self) -> UserSession | None:
        try:
            row = fetchone(
                _session_sql(connection.vendor), [self.session_key, when(timezone.now())]
            )
        except SuspiciousOperation as error:
            logging.getLogger(f"django.security.{error.__class__.__name__}").warning(str(error))
            row = None
        if row is None:
            self._session_key = None
            return None
        session = instance(UserSession, row)
        user_at, profile_at = width(UserSession), width(UserSession) + width(User)
        self.user = None
        if row[user_at] is not None:
            self.user = instance(User, row, user_at)
            has_profile = row[profile_at] is not None
            profile = instance(RaterProfile, row, profile_at) if has_profile else None
            User.profile.related.set_cached_value(self.user, profile)
        return session


def _user(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        session = request.session
        session.get(auth.SESSION_KEY)  # loads the session, and its user with it
        token = session_user.set(getattr(session, "user", None))
        try:
            request._cached_user = auth.get_user(request)  # type: ignore[attr-defined]
        finally:
            session_user.reset(token)
    return request._cached_user  # type: ignore[attr-defined]


class SessionUserMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware, resolving `request.user` from the user read with
    the session (`session_user`) instead of a query of its own."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _user(request))  # type: ignore[assignment]


def preloaded_user(user_id: Any, load: Callable[[], User | None]) -> User | None:
    """The session's user as read with the session when it is the one asked for, else
    `load()`."""
    user = session_user.get()
    if user is not None and str(user.pk) == str(user_id):
        return user
    return load()
