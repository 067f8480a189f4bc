"""The benchmark's --platform mode on real PostgreSQL, Redis and its own Celery worker.

A small synthetic corpus (the project's own) goes through import, features, the
assignment API with simulated raters, retraining and scoring; the report sets the
platform's curve beside the in-process one and gives the wiring's overhead.
"""

import json
import os
import subprocess
import sys

import pytest

from annotate.synthetic import corpus_write
from tests.integration.conftest import ROOT, _require_services, database_url

pytestmark = pytest.mark.integration


def test_platform_mode_drives_the_real_loop(transactional_db, tmp_path):
    _require_services()
    from django.conf import settings

    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in ("celery", "learner"):
            conn.default_channel.queue_purge(queue)
    corpus = corpus_write(tmp_path / "corpus", n_clips=150, seed=3)
    out = tmp_path / "out"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    command = [sys.executable, "-m", "bench.label_efficiency", "--platform"]
    command += ["--corpus", str(corpus), "--out", str(out), "--max-share", "0.35"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    result = json.loads((out / "platform.json").read_text())["corpus"]
    assert result["database"] == "postgresql"
    assert result["broker"] == "redis"
    rounds = result["platform_rounds"]
    assert len(rounds) >= 3
    costs = [r["cost"] for r in rounds]
    assert costs == sorted(costs)
    assert costs[-1] > costs[0]
    # The synthetic corpus's arousal is in its pitch and loudness: the worker's model learns it.
    assert max(r["ccc"][result["targets"].index("arousal")] for r in rounds) > 0.3
    assert result["in_process_rounds"], "the same split in process, for comparison"
    assert result["api_latency"]["next"]["median_ms"] > 0
    assert (
        "through the platform (postgresql, redis broker" in (out / "report-platform.md").read_text()
    )
