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


SETTINGS_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DATABASE_URL_FILE",
    "DATABASE_PREPARE_THRESHOLD",
    "CONCORD_DEV",
    "CONCORD_HTTPS",
    "CONCORD_REQUIRE_SECRET_KEY",
    "ALLOWED_HOSTS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests' conftest; check --deploy refuses it
)
A_REAL_KEY = "k3y-" + "x7Qp2v" * 10


def start(tmp_path, *args, dev=True, **env):
    """config.settings in a fresh process with only `env` set; `dev`: CONCORD_DEV=1."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    clean.update({"CONCORD_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"})
    if dev:
        clean["CONCORD_DEV"] = "1"
    clean.update(env)
    return subprocess.run(
        list(args) or [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults_are_sqlite_and_a_filesystem_broker(tmp_path):
    result = start(tmp_path)  # in development: nothing else to set
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
    result = start(tmp_path, dev=False)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr
    assert "SECRET_KEY_FILE" in result.stderr  # the message says what to do
    assert not (tmp_path / "secret_key").exists()


def test_the_old_public_fallback_key_is_gone(tmp_path):
    for env in ({}, {"CONCORD_REQUIRE_SECRET_KEY": "1"}):
        result = start(tmp_path, dev=False, **env)
        assert result.returncode != 0
        assert "concord-insecure-development-key" not in result.stdout


def test_require_secret_key_forbids_the_generated_key_even_in_development(tmp_path):
    result = start(tmp_path, DEBUG="1", CONCORD_REQUIRE_SECRET_KEY="1")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize("key", ["changeme", "short-key", "django-insecure-" + "a" * 40])
def test_production_refuses_a_placeholder_or_short_key(tmp_path, key):
    result = start(tmp_path, dev=False, SECRET_KEY=key)
    assert result.returncode != 0
    assert "SECRET_KEY is a placeholder or shorter than 32 characters" in result.stderr
    assert key not in result.stderr  # the message never echoes a secret


@pytest.mark.parametrize("flag", [{"DEBUG": "1"}, {"CONCORD_DEV": "1"}])
def test_development_generates_a_key_once_and_keeps_it_private(tmp_path, flag):
    first = start(tmp_path, dev=False, **flag)
    assert first.returncode == 0, first.stderr
    kept = tmp_path / "secret_key"
    key = first.stdout.split()[2]
    assert kept.read_text().strip() == key
    assert len(key) >= 50
    assert kept.stat().st_mode & 0o077 == 0  # readable by its owner only
    again = start(tmp_path, dev=False, **flag)
    assert again.stdout.split()[2] == key  # sessions survive a restart
    # Once generated, the key is used by later processes without the flag (manage.py
    # commands after ./run demo): a real random key, never a public one.
    later = start(tmp_path, dev=False)
    assert later.returncode == 0, later.stderr
    assert later.stdout.split()[2] == key


def test_a_given_key_wins_over_the_generated_one(tmp_path):
    assert start(tmp_path).returncode == 0
    result = start(tmp_path, dev=False, SECRET_KEY=A_REAL_KEY)
    assert result.stdout.split()[2] == A_REAL_KEY


def test_database_url_from_a_file(tmp_path):
    url = tmp_path / "database-url"
    url.write_text("postgres://u:secret@db:5432/x\n")
    result = start(tmp_path, DATABASE_URL_FILE=str(url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "django.db.backends.postgresql"


def _check_deploy(tmp_path, **env):
    return start(
        tmp_path,
        sys.executable,
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        dev=False,
        SECRET_KEY=A_REAL_KEY,
        ALLOWED_HOSTS="concord.example.org",
        **env,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _check_deploy(tmp_path, CONCORD_HTTPS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_settings_are_off_for_the_http_demo(tmp_path):
    # Without CONCORD_HTTPS the demo works on http://127.0.0.1, and check --deploy says
    # what production would lack.
    result = _check_deploy(tmp_path)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stdout + result.stderr


def test_https_turns_on_redirect_hsts_and_secure_cookies(tmp_path):
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"
    )
    on = start(
        tmp_path, sys.executable, "-c", probe, CONCORD_HTTPS="1", CONCORD_BEHIND_TLS_PROXY="1"
    )
    assert on.returncode == 0, on.stderr
    assert on.stdout.split()[:4] == ["True", "True", "True", "True"]
    assert "HTTP_X_FORWARDED_PROTO" in on.stdout
    off = start(tmp_path, sys.executable, "-c", probe)
    assert off.stdout.split() == ["False", "False", "False", "False", "None"]


@pytest.mark.parametrize(
    ("variable", "value"), [("CONCORD_RATING_RATE", "fast"), ("CONCORD_TOKEN_RATE", "0/min")]
)
def test_a_malformed_rate_fails_at_start(tmp_path, variable, value):
    result = start(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert f"{variable}={value!r} is not a rate" in result.stderr


def test_a_worker_process_runs_its_numerical_work_on_one_thread_unless_told(monkeypatch):
    """With --concurrency at the cores, BLAS threads on top oversubscribe them."""
    import numpy  # noqa: F401  (loads the BLAS the limit applies to)
    from threadpoolctl import threadpool_info, threadpool_limits

    from config.celery import worker_threads_limit

    before = threadpool_info()
    try:
        monkeypatch.delenv("CONCORD_WORKER_THREADS", raising=False)
        monkeypatch.setenv("OMP_NUM_THREADS", "")
        worker_threads_limit()
        assert threadpool_info()
        assert {pool["num_threads"] for pool in threadpool_info()} == {1}
        assert os.environ["OMP_NUM_THREADS"] == "1"
        monkeypatch.setenv("CONCORD_WORKER_THREADS", "2")
        worker_threads_limit()
        assert os.environ["OMP_NUM_THREADS"] == "2"
    finally:
        for pool in before:
            threadpool_limits(limits=pool["num_threads"], user_api=pool["user_api"])


@pytest.mark.parametrize(("setting", "lower_by"), [(None, 10), ("3", 3), ("0", 0)])
def test_a_worker_process_runs_below_the_web_requests_priority(setting, lower_by):
    """The pool process's niceness, read in a child process (it cannot be raised back)."""
    env = {k: v for k, v in os.environ.items() if k != "CONCORD_WORKER_NICE"}
    if setting is not None:
        env["CONCORD_WORKER_NICE"] = setting
    code = (
        "import os; before = os.nice(0); "
        "from config.celery import worker_priority_lower; worker_priority_lower(); "
        "print(os.nice(0) - before)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) == lower_by


@pytest.mark.parametrize(("value", "threshold"), [(None, "5"), ("0", "0"), ("off", "None")])
def test_postgres_binds_on_the_server_and_prepares_unless_turned_off(tmp_path, value, threshold):
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "o = s.DATABASES['default']['OPTIONS']; "
        "print(o['server_side_binding'], o['prepare_threshold'])"
    )
    env = {"DATABASE_URL": "postgres://u@db:5432/x"}
    if value is not None:
        env["DATABASE_PREPARE_THRESHOLD"] = value
    result = start(tmp_path, sys.executable, "-c", probe, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", threshold]
    refused = start(tmp_path, **{**env, "DATABASE_PREPARE_THRESHOLD": "-1"})
    assert "DATABASE_PREPARE_THRESHOLD=-1 must be at least 0" in refused.stderr
