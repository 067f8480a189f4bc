"""compose.yaml is read, not run (no Docker engine here): its services must match the code."""

import importlib
import itertools
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def command_of(service: dict) -> list[str]:
    command = service["command"]
    if isinstance(command, list):
        return command
    inner = shlex.split(command)
    return shlex.split(inner[2]) if inner[:2] == ["sh", "-c"] else inner


def test_the_five_services_exist_with_health_checks(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    assert {"pgdata", "redisdata", "media"} <= set(compose["volumes"])
    assert any("pgdata:" in v for v in services["postgres"]["volumes"])


def test_postgres_keeps_autovacuum_on_and_looks_every_15_s(compose):
    """The clip table is a queue (annotate/migrations/0020): dead row versions must not
    wait a minute for a vacuum."""
    command = command_of(compose["services"]["postgres"])
    assert command[0] == "postgres"
    settings_given = dict(
        arg.split("=", 1) for flag, arg in itertools.pairwise(command) if flag == "-c"
    )
    assert settings_given == {"autovacuum_naptime": "15s"}


def test_app_services_share_one_image_and_the_settings_read_their_env(compose):
    services = compose["services"]
    settings_source = "".join(
        (ROOT / "config" / name).read_text() for name in ("settings.py", "env.py", "storage.py")
    )
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["build"] == "."
        for variable in service["environment"]:
            assert f'"{variable}"' in settings_source, f"settings never read {variable}"
    assert (ROOT / "Dockerfile").is_file()
    env = services["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://redis:")


def test_web_migrates_then_serves_the_wsgi_app(compose):
    command = compose["services"]["web"]["command"]
    assert "manage.py migrate" in command
    target = re.search(r"gunicorn (\S+)", command).group(1)
    module = importlib.import_module(target)
    assert callable(module.application)
    from django.core.management import get_commands

    assert "migrate" in get_commands()


def test_worker_serves_the_queues_tasks_are_routed_to(compose):
    command = command_of(compose["services"]["worker"])
    assert command[:4] == ["celery", "-A", "config", "worker"]
    app = importlib.import_module("config.celery").app
    assert app.main == "concord"
    queues = set(command[command.index("-Q") + 1].split(","))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert queues == routed | {settings.CELERY_TASK_DEFAULT_QUEUE}


def test_beat_runs_the_schedule_of_registered_tasks(compose):
    command = command_of(compose["services"]["beat"])
    assert command[:4] == ["celery", "-A", "config", "beat"]
    app = importlib.import_module("config.celery").app
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry["task"]


def test_workers_scale_out_sharing_only_database_broker_and_storage(compose):
    """`docker compose up --scale worker=3`: no fixed name, port or host-only state."""
    worker = compose["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    command = command_of(worker)
    assert "-n" not in command
    assert "--hostname" not in command
    env = worker["environment"]
    assert env == compose["services"]["web"]["environment"]
    for variable in ("CONCORD_S3_BUCKET", "AWS_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"):
        assert variable in env, variable
    # Local audio and model bundles live on the one `media` volume every service mounts.
    for name in ("web", "worker", "beat"):
        assert "media:/data" in compose["services"][name]["volumes"]
    assert env["MEDIA_ROOT"].startswith("/data/")


def test_storage_is_local_without_a_bucket_and_s3_with_one(monkeypatch, tmp_path):
    from config.storage import S3, storages_from_env

    monkeypatch.delenv("CONCORD_S3_BUCKET", raising=False)
    assert storages_from_env()["default"]["BACKEND"].endswith("FileSystemStorage")
    monkeypatch.setenv("CONCORD_S3_BUCKET", "concord-audio")
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-id")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    secret = tmp_path / "s3-secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY_FILE", str(secret))
    storage = storages_from_env()["default"]
    assert storage["BACKEND"] == S3
    options = storage["OPTIONS"]
    assert options["bucket_name"] == "concord-audio"
    assert options["endpoint_url"] == "http://minio:9000"
    assert (options["access_key"], options["secret_key"]) == ("key-id", "s3cret")
    assert options["file_overwrite"] is False
    assert options["default_acl"] is None
    # The backend builds from these options without touching the network.
    from storages.backends.s3 import S3Storage

    backend = S3Storage(**options)
    assert backend.bucket_name == "concord-audio"
