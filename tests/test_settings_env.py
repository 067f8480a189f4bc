"""Settings come from the environment; a malformed value stops start-up with its name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.SECRET_KEY, s.DEBUG)"
)


def start(tmp_path, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")
    }
    clean.update({"CONCORD_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"})
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults_are_sqlite_and_a_filesystem_broker(tmp_path):
    result = start(tmp_path)
    assert result.returncode == 0, result.stderr
    engine, broker, _, debug = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"
    assert debug == "False"
    assert (tmp_path / "broker" / "queue").is_dir()


def test_redis_and_postgres_from_urls(tmp_path):
    result = start(tmp_path, DATABASE_URL="postgres://u@db:5432/x", REDIS_URL="redis://r:6379/0")
    assert result.returncode == 0, result.stderr
    engine, broker, *_ = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert broker == "redis://r:6379/0"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("DATABASE_URL", "nonsense://x", "DATABASE_URL='nonsense://x'"),
        ("REDIS_URL", "http://x", "REDIS_URL='http://x' must start with redis://"),
        ("CONCORD_MAX_CLIP_SECONDS", "abc", "CONCORD_MAX_CLIP_SECONDS='abc' is not an integer"),
        ("CONCORD_MAX_CLIP_SECONDS", "0", "CONCORD_MAX_CLIP_SECONDS=0 must be at least 1"),
    ],
)
def test_malformed_values_fail_at_start_naming_the_variable(tmp_path, variable, value, message):
    result = start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_secret_key_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    result = start(tmp_path, SECRET_KEY_FILE=str(secret))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[2] == "from-a-file"


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = start(tmp_path, CONCORD_REQUIRE_SECRET_KEY="1")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
