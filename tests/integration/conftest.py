"""Real services for integration tests: PostgreSQL, Redis and a Celery worker process."""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from config.worker import worker_command

ROOT = Path(__file__).resolve().parents[2]


def _require_services():
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("integration tests need PostgreSQL: set DATABASE_URL=postgres://...")
    if not settings.REDIS_URL:
        pytest.skip("integration tests need Redis: set REDIS_URL=redis://...")


def database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class WorkerProcess:
    """A `celery -A config worker` subprocess on the test database."""

    def __init__(self, log_path: Path, media_root: Path) -> None:
        self.log_path = log_path
        self.media_root = media_root
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from django.conf import settings

        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "MEDIA_ROOT": str(self.media_root),
            "PYTHONUNBUFFERED": "1",
        }
        self.log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            worker_command(
                concurrency=1,
                loglevel="INFO",
                options=(
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-n",
                    f"test-{uuid.uuid4().hex[:8]}@%h",
                ),
            ),
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: "ready." in self.log_path.read_text() or self.proc.poll() is not None,
            timeout=60,
            what="the Celery worker to start",
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"worker died at start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def worker(transactional_db, media_root, tmp_path):
    _require_services()
    from config.celery import app

    # Messages left by earlier runs refer to rows that are gone.
    with app.connection_for_write() as conn:
        for queue in ("celery", "learner"):
            conn.default_channel.queue_purge(queue)
    process = WorkerProcess(tmp_path / "worker.log", media_root)
    process.start()
    yield process
    process.stop()
