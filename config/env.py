"""Typed readers for settings from the environment; a malformed value fails loudly."""

import os
import secrets
import time
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """A string, read from NAME or from the file named by NAME_FILE (for secrets)."""
    if path := os.environ.get(f"{name}_FILE"):
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_prepare_threshold(name: str) -> int | None:
    """How many runs of a statement on a connection before psycopg prepares it (psycopg's
    default, 5, unless set); None with `off`: nothing is prepared."""
    if os.environ.get(name, "").strip().lower() in ("off", "none"):
        return None
    return env_int(name, 5, minimum=0)


def env_database(name: str, default: str) -> dict[str, Any]:
    """A Django DATABASES entry from a URL such as postgres://user@host:5432/db."""
    url = env_str(name, default)
    try:
        config: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        )
    except Exception as exc:
        raise ImproperlyConfigured(f"{name}={url!r} is not a database URL: {exc}") from exc
    engine = config.get("ENGINE", "")
    if not engine:
        raise ImproperlyConfigured(f"{name}={url!r}: unknown database scheme")
    if engine.endswith("postgresql"):
        # Parameters bound on the server, so psycopg prepares a statement once it ran
        # `prepare_threshold` times on a connection: PostgreSQL then parses and plans the
        # rater path's statements once per connection instead of on every call.
        # DATABASE_PREPARE_THRESHOLD=off behind a pooler that cannot keep them
        # (PgBouncer in transaction mode before 1.21).
        config["OPTIONS"] = {
            **config.get("OPTIONS", {}),
            "server_side_binding": True,
            "prepare_threshold": env_prepare_threshold("DATABASE_PREPARE_THRESHOLD"),
        }
    if engine.endswith("sqlite3"):
        if config["NAME"] != ":memory:":
            Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE takes the write lock at BEGIN: without it about half of the
        # concurrent writes fail with "database is locked".
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


def env_redis_url(name: str) -> str:
    url = env_str(name)
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"{name}={url!r} must start with redis://, rediss:// or unix://")
    return url


# Keys Concord once shipped or that are plainly placeholders: never a real secret.
_PUBLIC_KEYS = {"concord-insecure-development-key", "changeme", "change-me", "secret"}
MIN_SECRET_KEY_LENGTH = 32


def env_secret_key(*, var_dir: Path, development: bool) -> str:
    """SECRET_KEY from SECRET_KEY or SECRET_KEY_FILE; else the random key kept in
    var_dir/secret_key, which only development (DEBUG=1 or CONCORD_DEV=1, as `./run demo`
    and `./run test` set) creates. Anything else stops start-up saying what to do."""
    key = env_str("SECRET_KEY").strip()
    if key:
        if not development and (
            key in _PUBLIC_KEYS
            or key.startswith("django-insecure-")
            or len(key) < MIN_SECRET_KEY_LENGTH
        ):
            raise ImproperlyConfigured(
                f"SECRET_KEY is a placeholder or shorter than {MIN_SECRET_KEY_LENGTH} "
                "characters: set a long random value, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
            )
        return key
    kept = var_dir / "secret_key"
    if not development and not kept.is_file():
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: set SECRET_KEY (or SECRET_KEY_FILE=/run/secrets/...) to a "
            "long random value, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'. "
            "For development set DEBUG=1 or CONCORD_DEV=1 (./run demo and ./run test do) and a "
            "key is generated once and kept in var/secret_key."
        )
    return _development_key(kept)


def _development_key(path: Path) -> str:
    """The key kept in `path`, created (readable by its owner only) on first use; two
    processes starting at once read the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
    for _ in range(50):  # another process may be between creating and writing the file
        if key := path.read_text().strip():
            return key
        time.sleep(0.01)
    raise ImproperlyConfigured(f"{path} is empty: delete it to generate a new key")


def env_rate(name: str, default: str) -> str:
    """A throttle rate such as 120/min (DRF's N/s, N/min, N/hour, N/day); empty: none."""
    raw = os.environ.get(name, default).strip()
    if not raw:
        return ""
    count, _, period = raw.partition("/")
    if not count.isdigit() or int(count) < 1 or period[:1] not in ("s", "m", "h", "d"):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a rate such as 120/min")
    return raw
