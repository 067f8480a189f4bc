"""Two Celery worker processes on one project, sharing nothing but PostgreSQL, Redis and
the media storage (what `docker compose up --scale worker=N` runs): no work is done twice.

Feature extraction of every clip is sent twice, in overlapping batches, while a
retraining (which fills in missing features itself) is requested twice at once and its
task delivered twice. Every clip's features are extracted exactly once (counted in both
workers' logs, and one row per clip), exactly one run trains and promotes one model
version, and no task fails.
"""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.db import connection

from annotate.models import (
    Clip,
    ClipFeatures,
    ClipState,
    Label,
    ModelVersion,
    RunOutcome,
    RunState,
    TrainingRun,
)
from annotate.tasks import learner_features_extract_task, learner_training_run_task
from tests.conftest import make_clips, make_project, make_user
from tests.integration.conftest import WorkerProcess, _require_services, wait_for

pytestmark = pytest.mark.integration

N_CLIPS = 36


@pytest.fixture
def two_workers(transactional_db, media_root, tmp_path):
    _require_services()
    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in ("celery", "learner"):
            conn.default_channel.queue_purge(queue)
    workers = [WorkerProcess(tmp_path / f"worker-{i}.log", media_root) for i in range(2)]
    try:
        for worker in workers:
            worker.start()
        yield workers
    finally:
        for worker in workers:
            if worker.proc is not None:
                worker.stop()


def labelled_project():
    """N clips (tones of rising pitch, six speakers) and human labels on 30 of them that
    follow the pitch, no features yet, no automatic retraining."""
    project = make_project(min_raters=2, retrain_after_labels=0)
    clips = make_clips(project, N_CLIPS)
    for i, clip in enumerate(clips):
        Clip.objects.filter(pk=clip.pk).update(speaker=f"s{i % 6}")
        if i < 30:
            level = float(np.tanh((i - 15) / 8))
            for target, value in (("arousal", level), ("valence", -level / 2)):
                Label.objects.create(
                    clip=clip,
                    target=target,
                    value=value,
                    source="human",
                    n_ratings=2,
                    agreement=0.9,
                )
            Clip.objects.filter(pk=clip.pk).update(state=ClipState.RATED, n_ratings=2)
    return project, [clip.pk for clip in clips]


def succeeded(workers, task: str) -> int:
    pattern = re.compile(rf"Task {re.escape(task)}\[[^\]]+\] succeeded")
    return sum(len(pattern.findall(worker.output())) for worker in workers)


def test_two_workers_extract_each_clip_once_and_train_once(two_workers, client_for):
    project, clip_ids = labelled_project()
    admin = make_user("ada", "admin")

    # A retraining requested twice at the same moment: one run, one 409.
    barrier = threading.Barrier(2)

    def retrain() -> int:
        try:
            barrier.wait(timeout=10)
            return client_for(admin).post(f"/api/v1/projects/{project.pk}/retrain/").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(lambda _: retrain(), range(2)))
    assert statuses == [202, 409]
    run = TrainingRun.objects.get(project=project)
    # ... and its task delivered twice: both workers are handed the same run.
    learner_training_run_task.delay(run.pk)

    # Every clip sent for extraction twice, in overlapping batches, in opposite orders.
    batches = [clip_ids[i : i + 5] for i in range(0, N_CLIPS, 5)]
    batches += [clip_ids[::-1][i : i + 7] for i in range(0, N_CLIPS, 7)]
    for batch in batches:
        learner_features_extract_task.delay(batch)

    task = "annotate.tasks."
    wait_for(
        lambda: (
            succeeded(two_workers, task + "learner_features_extract_task") == len(batches)
            and succeeded(two_workers, task + "learner_training_run_task") == 2
            and succeeded(two_workers, task + "learner_project_score_task") == 1
        ),
        timeout=600,
        interval=1,
        what="both workers to finish every task",
    )
    time.sleep(1)  # a duplicate sent late would show up now
    logs = [worker.output() for worker in two_workers]
    for log in logs:
        assert "Traceback" not in log, log[-3000:]
        assert not re.search(r"\] (ERROR|CRITICAL)/", log), log[-3000:]
        assert not re.search(r"raised unexpected|failed:", log), log[-3000:]
    # Both workers took part.
    assert all(re.search(r"learner_\w+_task\[[^\]]+\] succeeded", log) for log in logs)

    # Features: one row per clip, and each clip decoded and extracted by one worker once.
    extracted = [int(n) for log in logs for n in re.findall(r"features: extracted (\d+)", log)]
    assert sum(extracted) == N_CLIPS, extracted
    rows = ClipFeatures.objects.filter(clip__project=project)
    assert rows.count() == N_CLIPS
    assert set(rows.values_list("clip_id", flat=True)) == set(clip_ids)

    # Training: one run ran and promoted one version, which scored the pool.
    run = TrainingRun.objects.get(project=project)
    assert run.state == RunState.SUCCEEDED, run.error
    assert run.outcome == RunOutcome.PROMOTED
    assert sum(log.count("learner_training_run_task") for log in logs) >= 2
    version = ModelVersion.objects.get(project=project)
    assert version.run_id == run.pk
    assert version.is_active
    assert version.scored_at is not None
    bundles = sorted(
        p.name for p in (two_workers[0].media_root / "models").rglob("*") if p.is_file()
    )
    assert bundles == [f"run-{run.pk}.bundle"]  # no leftover from the worker that lost
