"""Sign-in lockout and API tokens.

Failed sign-ins are counted per username and address in Django's cache; after
CONCORD_LOGIN_MAX_FAILURES failures within CONCORD_LOGIN_LOCKOUT_SECONDS that username is
refused from that address, the right password included, until the lockout ends. A browser
logout deletes the user's API tokens, so a token never outlives the session it came with.
"""

import hashlib
import time

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.authtoken.models import Token


def _key(kind: str, *, username: str, address: str) -> str:
    raw = f"{username.strip().lower()}\x00{address}".encode()
    return f"concord:login-{kind}:{hashlib.sha256(raw).hexdigest()}"


def login_lockout_remaining(*, username: str, address: str) -> int:
    """Seconds until `username` may sign in from `address` again; 0 when they may now."""
    until = cache.get(_key("lock", username=username, address=address))
    if until is None:
        return 0
    return max(0, int(float(until) - time.time()) + 1)


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failed sign-in; at the limit, lock the username out from the address.
    Returns the lockout's seconds (0 while under the limit). Failures while locked out do
    not lengthen the lockout."""
    if login_lockout_remaining(username=username, address=address):
        return login_lockout_remaining(username=username, address=address)
    window = int(settings.CONCORD_LOGIN_LOCKOUT_SECONDS)
    failures_key = _key("failures", username=username, address=address)
    cache.add(failures_key, 0, timeout=window)
    try:
        failures = cache.incr(failures_key)
    except ValueError:  # expired between add and incr
        cache.set(failures_key, 1, timeout=window)
        failures = 1
    if failures < int(settings.CONCORD_LOGIN_MAX_FAILURES):
        return 0
    cache.set(
        _key("lock", username=username, address=address), time.time() + window, timeout=window
    )
    cache.delete(failures_key)
    return window


def login_failures_clear(*, username: str, address: str) -> None:
    """A successful sign-in forgets the failures before it."""
    cache.delete(_key("failures", username=username, address=address))


def tokens_revoke(*, user: User) -> int:
    """Delete the user's API tokens (on logout); returns how many there were."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted
