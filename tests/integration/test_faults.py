"""Faults with real services (issue 16, must-have 3).

Each test starts what it breaks as its own process: a private redis-server on a free
port, a private PostgreSQL cluster, gunicorn and Celery workers on them, so the shared
PostgreSQL and Redis of the machine are never restarted. The test database itself lives
on the shared PostgreSQL (DATABASE_URL) except in the PostgreSQL restart test.

- kill -9 of the worker mid-retrain: the previous model stays active, no artifact of the
  killed run is used or left, and the run is failed once its heartbeat is stale, by the
  next retrain request (which then starts) or by the reaper.
- Redis killed and restarted while raters submit: every rating is stored once (201), and
  beat's catch-up brings reliabilities, labels and the queue to the state a run with no
  outage reaches.
- PostgreSQL stopped and started under gunicorn: 503 + Retry-After (JSON under /api/, a
  page elsewhere), then the next request succeeds without restarting the app.
- PostgreSQL restarted under a worker that keeps its connection across tasks: the next
  task runs on a new connection.
- A lease that expires returns its clip.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import requests
from django.utils import timezone

from config.worker import worker_command
from tests.conftest import make_clips, make_project, make_user
from tests.integration.conftest import ROOT, database_url, wait_for

pytestmark = pytest.mark.integration


# --- processes -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _require_postgres() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("fault tests need PostgreSQL: set DATABASE_URL=postgres://...")


def _require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


class Service:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.command, self.env, self.log_path = name, command, env, log
        self.proc: subprocess.Popen | None = None

    def start(self, ready: Callable[[], bool], timeout: float = 60) -> "Service":
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(
            lambda: self.proc is not None and (self.proc.poll() is not None or ready()),
            timeout=timeout,
            interval=0.1,
            what=f"{self.name} to start",
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} died at start:\n{self.output()[-3000:]}")
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """kill -9 of the whole process group (a worker and its pool children)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


class RedisServer:
    """A throwaway redis-server that keeps nothing on disk (a restart loses every
    queued message, as a crashed Redis without persistence does)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.service = Service(
            "redis-server",
            [
                _require_binary("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
            ],
            dict(os.environ),
            folder / "redis.log",
        )

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.service.start(self.ping, timeout=20)

    def kill(self) -> None:
        self.service.kill()

    def stop(self) -> None:
        self.service.stop()


def app_env(media_root: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(media_root),
        "PYTHONUNBUFFERED": "1",
        # Sign-in and rating throttles are tested elsewhere; these clients are fast robots.
        "CONCORD_TOKEN_RATE": "",
        "CONCORD_RATING_RATE": "",
        **extra,
    }


def start_gunicorn(env: dict[str, str], log: Path) -> tuple[Service, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{base}/login/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    command = [
        *(os.sys.executable, "-m", "gunicorn", "config.wsgi"),
        *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"),
        *("--worker-class", "gthread", "--timeout", "60", "--graceful-timeout", "2"),
    ]
    return Service("gunicorn", command, env, log).start(answers), base


def start_worker(env: dict[str, str], log: Path, *options: str) -> Service:
    command = worker_command(
        concurrency=1,
        loglevel="INFO",
        options=(
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"fault-{uuid.uuid4().hex[:8]}@%h",
            *options,
        ),
    )
    service = Service("celery worker", command, env, log)
    # The log is appended to by every worker of a test: ready is a new "ready." line.
    before = service.output().count(" ready.")
    return service.start(lambda: service.output().count(" ready.") > before)


def token(base: str, username: str) -> dict[str, str]:
    response = requests.post(
        f"{base}/api/v1/auth/token/",
        json={"username": username, "password": "pw-" + username},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Token {response.json()['token']}"}


@pytest.fixture
def services(tmp_path, transactional_db):
    """Everything a test starts, stopped afterwards in reverse order whatever happens, and
    before the test database is flushed (a worker still scoring deadlocked the flush)."""
    started: list = []
    yield started
    for service in reversed(started):
        try:
            service.stop()
        except Exception as exc:  # pragma: no cover - cleanup must go on
            print(f"could not stop {service}: {exc}")


# --- 1. kill -9 of the worker mid-retrain ----------------------------------------------


def _learnable_project(n_clips: int, n_labelled: int):
    """Clips with stored features (no audio needed to train); the first `n_labelled`
    have human labels that follow the features."""
    from annotate.models import Clip, ClipFeatures, ClipState, Label
    from learner.features import get_extractor

    project = make_project(
        min_raters=2,
        human_budget_per_round=5,
        retrain_after_labels=0,
        feature_normalisation="none",  # one normalisation to try: a shorter test
    )
    key = get_extractor(project.feature_extractor).cache_key
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n_clips, 16)).astype("<f4")
    clips = Clip.objects.bulk_create(
        Clip(
            project=project,
            sha256=f"{i:064x}",
            duration_s=1.0,
            original_sample_rate=16000,
            audio=f"clips/fault-{i}.wav",
            speaker=f"s{i % 6}",
            state=ClipState.AWAITING_HUMANS,
            ratings_wanted=2,
        )
        for i in range(n_clips)
    )
    ClipFeatures.objects.bulk_create(
        ClipFeatures(clip=clip, extractor_key=key, values=features[i].tobytes(), n_features=16)
        for i, clip in enumerate(clips)
    )

    def label(upto: int) -> None:
        have = set(Label.objects.filter(clip__project=project).values_list("clip_id", flat=True))
        fresh = [(i, clip) for i, clip in enumerate(clips[:upto]) if clip.pk not in have]
        Label.objects.bulk_create(
            Label(
                clip=clip,
                target=target,
                value=float(np.tanh(features[i, t] + 0.1 * features[i, t + 2])),
                source="human",
                n_ratings=2,
                agreement=0.9,
            )
            for i, clip in fresh
            for t, target in enumerate(("arousal", "valence"))
        )
        Clip.objects.filter(pk__in=[clip.pk for _, clip in fresh]).update(
            state=ClipState.RATED, n_ratings=2, ratings_wanted=2
        )

    label(n_labelled)
    return project, label


def test_kill_9_of_the_worker_mid_retrain(services, transactional_db, media_root, tmp_path):
    """The previous model stays active; the lost run is failed as soon as its heartbeat
    is stale and a new retrain is accepted at once and succeeds on a new worker."""
    from annotate.models import ModelVersion, RunState, TrainingRun

    _require_postgres()
    stale_seconds = 4
    redis = RedisServer(tmp_path)
    services.append(redis)
    redis.start()
    env = app_env(
        media_root,
        REDIS_URL=redis.url,
        CONCORD_RUN_HEARTBEAT_SECONDS="1",
        CONCORD_RUN_STALE_SECONDS=str(stale_seconds),
    )
    web, base = start_gunicorn(env, tmp_path / "gunicorn.log")
    services.append(web)
    worker = start_worker(env, tmp_path / "worker.log")
    services.append(worker)

    project, label = _learnable_project(n_clips=90, n_labelled=50)
    make_user("ada", "admin")
    admin = token(base, "ada")

    def retrain() -> requests.Response:
        return requests.post(
            f"{base}/api/v1/projects/{project.pk}/retrain/", headers=admin, timeout=30
        )

    def run_state(run_id: int, *states: str) -> TrainingRun | None:
        run = TrainingRun.objects.get(pk=run_id)
        return run if run.state in states else None

    first = retrain()
    assert first.status_code == 202, first.text
    done = wait_for(
        lambda: run_state(first.json()["run"]["id"], RunState.SUCCEEDED, RunState.FAILED),
        timeout=120,
        what="the first model",
    )
    assert done.state == RunState.SUCCEEDED, done.error
    active = ModelVersion.objects.get(project=project, is_active=True)
    # Its scoring pass writes machine labels: wait for it, or the labels below race it.
    wait_for(
        lambda: ModelVersion.objects.filter(pk=active.pk, scored_at__isnull=False).exists(),
        timeout=120,
        what="the first model's scoring pass",
    )

    label(70)  # new labels: the next run has something new to learn
    second = retrain()
    assert second.status_code == 202, second.text
    run_id = second.json()["run"]["id"]
    # Mid-retrain: past feature checks, in the learner (progress 0.2 .. 0.9).
    wait_for(
        lambda: TrainingRun.objects.filter(
            pk=run_id, state=RunState.RUNNING, progress__gte=0.2
        ).exists(),
        timeout=120,
        interval=0.05,
        what="the second run to be training",
    )
    worker.kill()
    killed_at = time.monotonic()
    print(f"killed at progress {TrainingRun.objects.get(pk=run_id).progress:.2f}")

    lost = TrainingRun.objects.get(pk=run_id)
    assert lost.state == RunState.RUNNING  # nobody is left to say otherwise
    assert ModelVersion.objects.get(project=project, is_active=True) == active
    assert retrain().status_code == 409  # its heartbeat is fresh: it may still be alive

    # A retrain request that finds the run stale fails it and starts a new one at once.
    statuses = []

    def accepted() -> requests.Response | None:
        response = retrain()
        statuses.append(response.status_code)
        return response if response.status_code == 202 else None

    third = wait_for(accepted, timeout=stale_seconds + 30, interval=0.25, what="a new retrain")
    recovered_after = time.monotonic() - killed_at
    assert set(statuses) <= {409, 202}, statuses
    lost.refresh_from_db()
    assert lost.state == RunState.FAILED
    assert "lost" in lost.error
    assert recovered_after < stale_seconds + 5, recovered_after
    # No partial artifact is used or left: the killed run has no version and no files.
    assert not ModelVersion.objects.filter(run_id=run_id).exists()
    folder = Path(media_root) / "models" / str(project.pk)
    assert not [p.name for p in folder.iterdir() if f"run-{run_id}." in p.name]
    assert ModelVersion.objects.get(project=project, is_active=True) == active
    print(f"kill -9 mid-retrain: new retrain accepted {recovered_after:.1f} s after the kill")

    # A new worker runs the new retrain to the end.
    services.append(start_worker(env, tmp_path / "worker.log"))
    new_run = wait_for(
        lambda: run_state(third.json()["run"]["id"], RunState.SUCCEEDED, RunState.FAILED),
        timeout=120,
        what="the new run",
    )
    assert new_run.state == RunState.SUCCEEDED, new_run.error
    now_active = ModelVersion.objects.get(project=project, is_active=True)
    assert now_active in (active, ModelVersion.objects.get(run=new_run))
    assert (Path(media_root) / now_active.artifact).is_file()


def test_the_reaper_fails_a_lost_run_and_heartbeats_keep_a_live_one(
    transactional_db, media_root, settings
):
    """What beat's reaper does every minute, and the heartbeat thread that keeps a run
    that trains for a long time between checkpoints from looking lost."""
    from datetime import timedelta

    from annotate.models import ModelVersion, RunState, TrainingRun
    from annotate.services.training import _Heartbeat, training_runs_reap

    settings.CONCORD_RUN_STALE_SECONDS = 3
    settings.CONCORD_RUN_HEARTBEAT_SECONDS = 1
    project = make_project()
    old = timezone.now() - timedelta(seconds=10)
    alive = TrainingRun.objects.create(
        project=project, state=RunState.RUNNING, heartbeat_at=old, started_at=old
    )
    beating = _Heartbeat(alive.pk, old).start()
    try:
        wait_for(
            lambda: TrainingRun.objects.get(pk=alive.pk).heartbeat_at > old,
            timeout=10,
            what="a heartbeat",
        )
        assert training_runs_reap() == 0
    finally:
        beating.stop()
    assert TrainingRun.objects.get(pk=alive.pk).state == RunState.RUNNING

    folder = Path(media_root) / "models" / str(project.pk)
    folder.mkdir(parents=True)
    (folder / f".run-{alive.pk}.bundle.123").write_bytes(b"half a bundle")
    TrainingRun.objects.filter(pk=alive.pk).update(heartbeat_at=old)
    assert training_runs_reap() == 1
    lost = TrainingRun.objects.get(pk=alive.pk)
    assert lost.state == RunState.FAILED
    assert "lost" in lost.error
    assert not list(folder.iterdir())
    assert not ModelVersion.objects.exists()


# --- 2. Redis killed and restarted while raters submit ---------------------------------


def _crowd_state(project_id: int) -> dict:
    """What follows ratings: labels, clip states, reliabilities and noise."""
    from annotate.models import Clip, Label, RaterNoise, RaterProfile, Target

    return {
        "labels": sorted(
            (row[0], row[1], round(row[2], 9), row[3], round(row[4] or 0, 9))
            for row in Label.objects.filter(
                clip__project_id=project_id, revoked_at__isnull=True
            ).values_list("clip_id", "target", "value", "n_ratings", "agreement")
        ),
        "clips": sorted(
            Clip.objects.filter(project_id=project_id).values_list(
                "id", "state", "n_ratings", "ratings_wanted", "priority"
            )
        ),
        "reliability": sorted(
            (user_id, round(value, 9) if value is not None else None, n)
            for user_id, value, n in RaterProfile.objects.filter(
                user__projects__id=project_id
            ).values_list("user_id", "reliability", "reliability_n")
        ),
        "noise": sorted(
            (name, round(noise, 9) if noise is not None else None, n)
            for name, noise, n in Target.objects.filter(project_id=project_id).values_list(
                "name", "rater_noise", "rater_noise_clips"
            )
        ),
        "rater_noise": sorted(
            (t, r, round(noise, 9), n)
            for t, r, noise, n in RaterNoise.objects.filter(
                target__project_id=project_id
            ).values_list("target__name", "rater_id", "noise", "n_clips")
        ),
    }


def test_redis_restart_while_raters_submit(services, transactional_db, media_root, tmp_path):
    """Every rating sent while Redis is down is stored once (201); the work that should
    have followed, lost with Redis, is redone by beat's catch-up to the same state as
    with no outage."""
    from django.db.models import Max

    from annotate.models import Project, RaterProfile, Rating
    from annotate.services.catch_up import project_after_ratings

    _require_postgres()
    redis = RedisServer(tmp_path)
    services.append(redis)
    redis.start()
    env = app_env(media_root, REDIS_URL=redis.url, CONCORD_CATCH_UP_SECONDS="2")
    web, base = start_gunicorn(env, tmp_path / "gunicorn.log")
    services.append(web)
    worker_log = tmp_path / "worker.log"
    schedule = tmp_path / "celerybeat-schedule"
    services.append(start_worker(env, worker_log, "-B", "-s", str(schedule)))

    project = make_project(min_raters=3, max_raters=3, retrain_after_labels=0)
    clip_ids = [clip.pk for clip in make_clips(project, 8)]
    names = [f"r{i}" for i in range(4)]
    for name in names:
        make_user(name, "rater", [project])
    headers = {name: token(base, name) for name in names}
    truth = dict(zip(clip_ids, np.linspace(-0.8, 0.8, 8), strict=True))
    sent: dict[str, int] = {}  # client_token -> assignment
    slowest = 0.0

    def rate_one(name: str) -> bool:
        """One rater's next + rating; False when nothing is left for them."""
        nonlocal slowest
        started = time.monotonic()
        lease = requests.post(
            f"{base}/api/v1/projects/{project.pk}/next/", headers=headers[name], timeout=30
        )
        if lease.status_code == 204:
            return False
        assert lease.status_code == 200, lease.text
        body = lease.json()
        # r3 answers the opposite of the others.
        value = float(truth[body["clip"]["id"]]) * (-1 if name == "r3" else 1)
        value += 0.02 * int(name[1])
        client_token = uuid.uuid4().hex
        response = requests.post(
            f"{base}/api/v1/assignments/{body['assignment']['id']}/rating/",
            json={"values": {"arousal": value, "valence": value}, "client_token": client_token},
            headers=headers[name],
            timeout=30,
        )
        assert response.status_code == 201, response.text
        sent[client_token] = body["assignment"]["id"]
        slowest = max(slowest, time.monotonic() - started)
        return True

    # Before the outage: every rater rates two clips.
    for _ in range(2):
        for name in names:
            assert rate_one(name)

    def followed() -> bool:
        # A pass that began after the newest rating has read them all, and none is pending
        # (ratings sent while a deferred pass is pending send no message of their own).
        newest = Rating.objects.filter(clip__project=project).aggregate(m=Max("created_at"))
        state = Project.objects.get(pk=project.pk)
        done = state.ratings_processed_at
        return done is not None and done >= newest["m"] and state.after_ratings_due_at is None

    wait_for(followed, what="the worker to follow the first ratings")
    before_outage = len(sent)

    redis.kill()
    outage_started = time.monotonic()
    slowest = 0.0
    left = set(names)
    while left:
        for name in sorted(left):
            if not rate_one(name):
                left.discard(name)
    during_outage = len(sent) - before_outage
    slowest_in_outage = slowest
    # A replayed request (a client retrying over a flaky network) stores nothing new.
    replay_token, replay_assignment = next(reversed(sent.items()))
    replay = requests.post(
        f"{base}/api/v1/assignments/{replay_assignment}/rating/",
        json={"values": {"arousal": 0.0, "valence": 0.0}, "client_token": replay_token},
        headers=headers[_rater_of(replay_assignment)],
        timeout=30,
    )
    assert replay.status_code == 200, replay.text
    redis_down_for = time.monotonic() - outage_started
    redis.start()  # empty: whatever was queued is gone
    restarted_at = time.monotonic()

    # Every rating is stored exactly once.
    stored = list(
        Rating.objects.filter(clip__project=project).values_list("client_token", flat=True)
    )
    assert sorted(stored) == sorted(sent)
    assert during_outage >= 8
    assert slowest_in_outage < 5, slowest_in_outage

    # Beat's catch-up, through the restarted Redis, redoes what the lost messages did.
    marker = len(worker_log.read_text())

    def caught_up() -> bool:
        log = worker_log.read_text()[marker:]
        return (
            "rater_reliability_refresh_task" in log
            and "succeeded" in log.split("rater_reliability_refresh_task", 1)[1]
        )

    wait_for(caught_up, timeout=60, what="beat's catch-up after the restart")
    caught_up_after = time.monotonic() - restarted_at
    after_catch_up = _crowd_state(project.pk)
    n_ratings = {user_id: n for user_id, _, n in after_catch_up["reliability"]}
    assert all(n > 0 for n in n_ratings.values()), after_catch_up["reliability"]

    # The same state as with no outage: doing the lost work again changes nothing.
    project_after_ratings(project_id=project.pk)
    assert _crowd_state(project.pk) == after_catch_up
    careless = RaterProfile.objects.get(user__username="r3").reliability
    careful = RaterProfile.objects.filter(user__username__in=["r0", "r1", "r2"])
    assert all(careless < p.reliability for p in careful)
    print(
        f"redis outage: {during_outage} ratings stored in {redis_down_for:.1f} s down "
        f"(slowest next+rating {slowest_in_outage:.2f} s); catch-up {caught_up_after:.1f} s "
        "after the restart"
    )


def _rater_of(assignment_id: int) -> str:
    from annotate.models import Assignment

    return Assignment.objects.get(pk=assignment_id).rater.username


# --- 3. PostgreSQL stopped and started under the app -----------------------------------


class PostgresCluster:
    """A throwaway PostgreSQL cluster on a free port, run as the postgres user when the
    test runs as root (initdb refuses root)."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        initdb = shutil.which("initdb") or (str(bins[-1]) if bins else None)
        if initdb is None:
            pytest.skip("initdb is not installed (PostgreSQL server binaries)")
        self.bin = Path(initdb).parent
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="concord-pg-"))
        self.data = self.folder / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start initdb")
            import pwd

            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user for initdb")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.as_user = [runuser, "-u", "postgres", "--"]
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/concord"

    def _run(self, *command: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self.as_user, *command], capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise AssertionError(f"{command[0]} failed:\n{result.stdout}\n{result.stderr}")

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"),
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-o", options, "-l", str(self.folder / "pg.log")),
            *("-w", "-t", "60", "start"),
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def psql(self, *args: str, stdin: str | None = None, database: str = "postgres") -> None:
        result = subprocess.run(
            [
                shutil.which("psql") or str(self.bin / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                *list(args),
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"psql failed:\n{result.stderr[-3000:]}")

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def private_postgres(services):
    cluster = PostgresCluster()

    class Remover:
        def stop(self) -> None:
            cluster.remove()

    services.append(Remover())
    cluster.init()
    cluster.start()
    return cluster


def _copy_test_database(cluster: PostgresCluster) -> None:
    """The test database, schema and rows, copied into the cluster's database `concord`."""
    from django.db import connection

    pg_dump = _require_binary("pg_dump")
    s = connection.settings_dict
    dump = subprocess.run(
        [
            pg_dump,
            "--no-owner",
            "--no-privileges",
            "-h",
            s["HOST"] or "127.0.0.1",
            "-p",
            str(s["PORT"] or 5432),
            "-U",
            s["USER"],
            s["NAME"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PGPASSWORD": s.get("PASSWORD") or ""},
    )
    assert dump.returncode == 0, dump.stderr
    cluster.psql("-c", "create database concord")
    cluster.psql(stdin=dump.stdout, database="concord")


def test_postgres_restart_gives_503_then_recovers(
    services, private_postgres, transactional_db, media_root, tmp_path
):
    """gunicorn on a private cluster: stopped, every request is a quick 503 with
    Retry-After; started again, the next request succeeds with the same app."""
    _require_postgres()
    project = make_project(min_raters=1)
    make_clips(project, 3)
    make_user("rita", "rater", [project])
    _copy_test_database(private_postgres)

    env = app_env(
        media_root,
        DATABASE_URL=private_postgres.url,
        # No broker here: enqueueing fails fast and is only logged (annotate.queueing).
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    web, base = start_gunicorn(env, tmp_path / "gunicorn.log")
    services.append(web)
    api = token(base, "rita")
    browser = requests.Session()
    login = browser.get(f"{base}/login/", timeout=10)
    signed_in = browser.post(
        f"{base}/login/",
        data={
            "username": "rita",
            "password": "pw-rita",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        headers={"Referer": login.url},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text[:500]
    projects = f"{base}/api/v1/projects/"
    assert requests.get(projects, headers=api, timeout=10).status_code == 200
    assert browser.get(f"{base}/", timeout=10).status_code == 200

    private_postgres.stop()
    started = time.monotonic()
    down = requests.get(projects, headers=api, timeout=30)
    answered_in = time.monotonic() - started
    assert down.status_code == 503, down.text[:500]
    assert int(down.headers["Retry-After"]) > 0
    assert down.json() == {
        "detail": "the database is unavailable; try again in a few seconds",
        "code": "database_unavailable",
    }
    assert answered_in < 5
    rating = requests.post(f"{base}/api/v1/projects/{project.pk}/next/", headers=api, timeout=30)
    assert rating.status_code == 503
    assert rating.json()["code"] == "database_unavailable"
    page = browser.get(f"{base}/", timeout=30)
    assert page.status_code == 503
    assert "Retry-After" in page.headers
    assert page.headers["Content-Type"].startswith("text/html")
    assert "database" in page.text

    private_postgres.start()
    back_at = time.monotonic()
    first = requests.get(projects, headers=api, timeout=30)
    assert first.status_code == 200, first.text[:500]
    recovered_in = time.monotonic() - back_at
    lease = requests.post(f"{base}/api/v1/projects/{project.pk}/next/", headers=api, timeout=30)
    assert lease.status_code == 200, lease.text
    assert browser.get(f"{base}/", timeout=10).status_code == 200
    assert web.proc is not None
    assert web.proc.poll() is None
    print(
        f"postgres down: 503 in {answered_in * 1000:.0f} ms; first request after the "
        f"restart answered 200 in {recovered_in * 1000:.0f} ms"
    )


def test_the_worker_keeps_its_connection_across_tasks_and_renews_it_after_a_restart(
    services, private_postgres, transactional_db, media_root, tmp_path
):
    """A worker process keeps one database connection across its tasks (Celery's Django
    fixup alone opens one per task: CELERY_DB_REUSE_MAX); when PostgreSQL restarts under
    it, its next task finds the connection dead and runs on a new one."""
    import psycopg

    from annotate.models import Assignment, AssignmentStatus
    from annotate.tasks import assignments_expire_task
    from config.celery import app

    _require_postgres()
    project = make_project(min_raters=1)
    clips = make_clips(project, 2)
    later = timezone.now() + timedelta(hours=1)
    lease_ids = [
        Assignment.objects.create(
            project=project,
            clip=clip,
            rater=make_user(f"r{i}", "rater", [project]),
            expires_at=later,
        ).pk
        for i, clip in enumerate(clips)
    ]
    _copy_test_database(private_postgres)
    with app.connection_for_write() as broker:
        for queue in ("celery", "learner"):
            broker.default_channel.queue_purge(queue)
    worker = start_worker(
        app_env(media_root, DATABASE_URL=private_postgres.url), tmp_path / "worker.log"
    )
    services.append(worker)

    def private(sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(private_postgres.url) as db:
            cursor = db.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def sessions() -> int:
        """Sessions ever opened on the database (this one's own included)."""
        return private("SELECT sessions FROM pg_stat_database WHERE datname = 'concord'")[0][0]

    def expire(lease_id: int) -> None:
        private(
            "UPDATE annotate_assignment SET expires_at = now() - interval '1 second' WHERE id = %s",
            lease_id,
        )
        assignments_expire_task.delay()
        wait_for(
            lambda: (
                private("SELECT status FROM annotate_assignment WHERE id = %s", lease_id)
                == [(AssignmentStatus.EXPIRED,)]
            ),
            timeout=30,
            what=f"the worker to expire lease {lease_id}",
        )

    expire(lease_ids[0])  # the worker's pool process has connected
    before = sessions()
    tasks = 12
    for _ in range(tasks):
        assignments_expire_task.delay()
    wait_for(
        lambda: worker.output().count("succeeded in") >= tasks + 1,
        timeout=60,
        what=f"{tasks} more tasks to run",
    )
    opened = sessions() - before - 1  # the second count's own session
    assert opened <= 1, f"{opened} database sessions opened for {tasks} tasks"

    private_postgres.stop()
    private_postgres.start()
    expire(lease_ids[1])
    assert worker.proc is not None
    assert worker.proc.poll() is None
    # The dead connection failed its health check before the task used it: no retry.
    assert " retry: " not in worker.output(), worker.output()[-3000:]
    print(f"{tasks} tasks opened {opened} database sessions; the task after the restart ran")


# --- 4. a lease that expires returns its clip ------------------------------------------


def test_an_expired_lease_returns_its_clip(transactional_db, media_root, client_for):
    """On PostgreSQL: the rater who let the lease run out gets 409, the clip goes to the
    next rater, and it is rated once."""
    from annotate.models import Assignment, AssignmentStatus, Clip, Rating

    _require_postgres()
    project = make_project(min_raters=1, max_raters=1, lease_seconds=1)
    (clip,) = make_clips(project, 1)
    slow = client_for(make_user("slow", "rater", [project]))
    quick = client_for(make_user("quick", "rater", [project]))
    lease = slow.post(f"/api/v1/projects/{project.pk}/next/")
    assert lease.status_code == 200
    assert quick.post(f"/api/v1/projects/{project.pk}/next/").status_code == 204
    time.sleep(1.2)
    again = quick.post(f"/api/v1/projects/{project.pk}/next/")
    assert again.status_code == 200
    assert again.json()["clip"]["id"] == clip.pk
    assert Assignment.objects.get(pk=lease.json()["assignment"]["id"]).status == (
        AssignmentStatus.EXPIRED
    )
    late = slow.post(
        f"/api/v1/assignments/{lease.json()['assignment']['id']}/rating/",
        {"values": {"arousal": 0.1, "valence": 0.1}, "client_token": uuid.uuid4().hex},
        format="json",
    )
    assert late.status_code == 409
    assert late.json()["code"] == "lease_expired"
    rated = quick.post(
        f"/api/v1/assignments/{again.json()['assignment']['id']}/rating/",
        {"values": {"arousal": 0.2, "valence": 0.2}, "client_token": uuid.uuid4().hex},
        format="json",
    )
    assert rated.status_code == 201
    clip = Clip.objects.get(pk=clip.pk)
    assert (clip.n_ratings, clip.active_leases) == (1, 0)
    assert Rating.objects.count() == 1
