"""Sign-in with a lockout after repeated failures (annotate.services.auth), on every path
that signs in: the login page, the Django admin and the API token endpoint."""

from functools import cache
from typing import Any

from django import forms
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from annotate.models import RaterProfile
from annotate.rawsql import columns, fetchone, instance, table, width
from annotate.services.auth import (
    login_failure_record,
    login_failures_clear,
    login_lockout_remaining,
)
from annotate.sessions import preloaded_user


def client_address(request: Any) -> str:
    """The address a request came from, as the web server saw it."""
    meta = getattr(request, "META", None) or {}
    return str(meta.get("REMOTE_ADDR") or "unknown")


def lockout_sentence(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        "Too many failed sign-ins for this username from your address: sign-in is locked "
        f"for about {minutes} minute{'s' if minutes != 1 else ''}. Try again later."
    )


class LockoutModelBackend(ModelBackend):
    """Django's model backend, refusing a username from an address while it is locked out
    (PermissionDenied: no other backend is tried) and counting each failure."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if request is None or not isinstance(username, str):
            # Management commands and scripts sign nobody in over the network.
            return super().authenticate(request, username=username, password=password, **kwargs)
        address = client_address(request)
        if login_lockout_remaining(username=username, address=address):
            raise PermissionDenied("locked out")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username, address=address)
        else:
            login_failures_clear(username=username, address=address)
        return user

    def get_user(self, user_id: Any) -> User | None:
        """The session's user with their profile (role, reliability): as read with the
        session (annotate.sessions), or in a query of its own. Every API view reads the
        role (annotate.access.user_role)."""
        user = preloaded_user(user_id, lambda: self._user_with_profile(user_id))
        return user if user is not None and self.user_can_authenticate(user) else None

    @staticmethod
    def _user_with_profile(user_id: Any) -> User | None:
        try:
            return User._default_manager.select_related("profile").get(pk=user_id)
        except (User.DoesNotExist, ValueError):
            return None


class LockoutAuthenticationForm(AuthenticationForm):
    """The login form, saying so when sign-in is locked out rather than 'wrong password'."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Your username and password didn't match. Please try again.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if isinstance(username, str) and (
            seconds := login_lockout_remaining(
                username=username, address=client_address(self.request)
            )
        ):
            raise forms.ValidationError(lockout_sentence(seconds), code="locked_out")
        try:
            return super().clean()
        except forms.ValidationError:
            if isinstance(username, str) and (
                seconds := login_lockout_remaining(
                    username=username, address=client_address(self.request)
                )
            ):
                raise forms.ValidationError(lockout_sentence(seconds), code="locked_out") from None
            raise


@cache
def _token_sql(vendor: str) -> str:
    return f"""
        SELECT {columns(Token, "t")}, {columns(User, "u")}, {columns(RaterProfile, "r")}
        FROM {table(Token)} t
            JOIN {table(User)} u ON u.id = t.user_id
            LEFT JOIN {table(RaterProfile)} r ON r.user_id = u.id
        WHERE t.key = %s
    """


class ProfileTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, reading the user and their profile (role, reliability)
    with the token in one query, in SQL written once (annotate.rawsql): every request of a
    rater's round trip signs in this way, and every API view reads the role."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        row = fetchone(_token_sql(connection.vendor), [key])
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = instance(Token, row)
        user = instance(User, row, width(Token))
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        has_profile = row[width(Token) + width(User)] is not None
        profile = instance(RaterProfile, row, width(Token) + width(User)) if has_profile else None
        User.profile.related.set_cached_value(user, profile)
        token.user = user
        return user, token
