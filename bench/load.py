"""Many simulated raters against gunicorn + PostgreSQL + Redis + a Celery worker, while a
retrain and a scoring pass run; then the database is checked for double leases and lost
or duplicated ratings.

    python -m bench.load [--raters 50,200,500] [--seconds 60] [--no-pause]
                         [--capacity] [--label-studio] [--clips 4000] [--json PATH]

One command: it (re)creates a throwaway database (`--database-url`, default
`concord_load`), migrates it, writes a synthetic corpus (annotate.synthetic, cached
under var/bench-load/) and imports it as a project, creates the rater accounts, gives
the project enough seed ratings to train on, extracts every clip's features, empties
its own Redis database (`--redis-url`, default db 5), and starts a real Celery worker
(config.worker.worker_command) and `python -m gunicorn config.wsgi` on loopback.

Each simulated rater loops: POST next, GET the leased audio, wait the clip's duration
plus 1-3 s (`--no-pause`: no wait), POST the rating with a fresh client_token (a
rating that fails in transit is retried with the same token, as a browser would). An
admin keeps a retrain running through each level (`--retrain through`: a new one is
asked through the API whenever none is queued or running; `--retrain once`: one at the
start of the level); the report says how much of the level training runs and the
scoring passes that follow them overlapped.

The client is one asyncio event loop speaking HTTP/1.1 over `asyncio.open_connection`
(no httpx or aiohttp in the virtualenv; 500 threads of `requests` would spend the
client's share of the 2 cores on the GIL). It runs on the same machine as the server
and competes with it for CPU: the report gives its CPU share and the event loop's lag,
which adds to every latency measured.

`--capacity` then ramps raters in no-pause mode (`--capacity-steps`) until the p95 of
next or rating exceeds `--p95-bound-ms` or the ratings per second stop growing; the
capacity is the best throughput whose p95 stayed within the bound.

Before the levels, one rater's round trip is timed twice once the worker is quiet: with
the worker running (its ratings start the worker's passes) and with it stopped
(SIGSTOP), with the CPU each process tree used meanwhile.

`--label-studio` measures one rater's round trip (next task, its audio, an annotation)
on Label Studio 1.23.2 in a throwaway virtualenv (installed when missing), started with
`label-studio start` on SQLite and signed in with a session as its page does, and the
same round trip on Concord, sequentially and with the machine otherwise idle.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import requests

from bench.bench_api import free_port, manage, percentile, recreate_database
from config.worker import worker_command

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench-load"
PROJECT = "load"
BROWSER_RATER = "load-browser"
KINDS = ("next", "audio", "rating")
TIMEOUT_S = 30.0  # gunicorn's own worker timeout
QUIET_WORKER_TIMEOUT_S = 180.0  # the seed's first training and scoring, before the idle round trip
LS_VERSION = "1.23.2"


# --------------------------------------------------------------------------------------
# The project: built in a Django process of its own (this one stays free of Django, so
# the test can run it beside pytest-django's own database).

SEED_RATERS = 5


def project_setup_main() -> None:
    """Entry point of the setup subprocess: argv[1] is a JSON spec; prints a JSON line."""
    import django

    django.setup()
    spec = json.loads(sys.argv[1])
    print(json.dumps(project_setup(**spec)))


def project_setup(
    *,
    corpus_dir: str,
    clips: int,
    raters: int,
    min_raters: int,
    max_raters: int,
    seed_labels: int,
) -> dict:
    """Corpus, project, accounts with API tokens, seed ratings and features."""
    from django.test import override_settings
    from rest_framework.authtoken.models import Token

    from annotate.learning.readiness import training_shortfall
    from annotate.models import Clip, Project, ReferenceLabel
    from annotate.services.assignments import assignment_next
    from annotate.services.features import project_features_ensure
    from annotate.services.ingest import corpus_import
    from annotate.services.ratings import rating_submit
    from annotate.services.users import user_create
    from annotate.synthetic import SimulatedRater, corpus_write, simulated_rating

    started = time.monotonic()
    corpus = Path(corpus_dir)
    if not (corpus / "clips.csv").is_file():
        corpus_write(corpus, n_clips=clips)
    written = time.monotonic()
    report = corpus_import(corpus_dir=corpus, project_name=PROJECT)
    imported = time.monotonic()
    project = Project.objects.get(name=PROJECT)
    # Every clip stays with people (no learner round defers most of them), each wants
    # `min_raters` to `max_raters` ratings, and only the bench starts a retraining.
    project.min_raters, project.max_raters = min_raters, max_raters
    project.human_budget_per_round = max(clips, 1)
    project.retrain_after_labels = 0
    project.save()
    Clip.objects.filter(project=project).update(ratings_wanted=min_raters)

    def account(name: str, role: str) -> tuple[int, str]:
        user = user_create(
            username=name,
            password=secrets.token_urlsafe(12),
            role=role,
            project_names=(PROJECT,),
        )[0]
        return user.pk, Token.objects.create(user=user).key

    # A cheap hasher for the bench accounts: they sign in with API tokens, never with
    # these passwords, and 500 PBKDF2 hashes would take minutes.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        rater_accounts = [account(f"load-rater-{i:04d}", "rater") for i in range(raters)]
        admin_id, admin_token = account("load-admin", "admin")
        seeders = [account(f"load-seed-{i}", "rater")[0] for i in range(SEED_RATERS)]
    # Signs in on the login page, as a rater's browser does (its own round trip): with the
    # server's own password hasher.
    browser_password = secrets.token_urlsafe(12)
    browser_id = user_create(
        username=BROWSER_RATER, password=browser_password, role="rater", project_names=(PROJECT,)
    )[0].pk
    accounts = time.monotonic()

    # Seed ratings, so that a retrain can run from the first level on.
    from django.contrib.auth.models import User

    truth: dict[int, dict[str, float]] = {}
    for clip_id, target, value in ReferenceLabel.objects.filter(clip__project=project).values_list(
        "clip_id", "target", "value"
    ):
        truth.setdefault(clip_id, {})[target] = value
    seed_users = list(User.objects.filter(pk__in=seeders).order_by("pk"))
    crowd = [SimulatedRater(u.username, noise=0.12) for u in seed_users]
    seed_ratings = 0
    labelled: set[int] = set()
    while len(labelled) < seed_labels or training_shortfall(project):
        rated_now = 0
        for user, rater in zip(seed_users, crowd, strict=True):
            assignment = assignment_next(rater=user, project=project)
            if assignment is None:
                continue
            rating_submit(
                rater=user,
                assignment=assignment,
                values=simulated_rating(
                    rater, truth.get(assignment.clip_id, {}), clip_key=str(assignment.clip_id)
                ),
                client_token=f"seed-assignment-{assignment.pk}",
                time_spent_ms=4000,
            )
            labelled.add(assignment.clip_id)
            seed_ratings += 1
            rated_now += 1
        if not rated_now:
            break
    seeded = time.monotonic()
    project_features_ensure(project=project)
    featured = time.monotonic()
    return {
        "project": project.pk,
        "clips": Clip.objects.filter(project=project).count(),
        "import_errors": len(report.errors),
        "raters": rater_accounts,
        "admin": [admin_id, admin_token],
        "browser": {"id": browser_id, "username": BROWSER_RATER, "password": browser_password},
        "seed_ratings": seed_ratings,
        "seed_clips": len(labelled),
        "training_shortfall": training_shortfall(project),
        "seconds": {
            "corpus_write": round(written - started, 1),
            "import": round(imported - written, 1),
            "accounts": round(accounts - imported, 1),
            "seed_ratings": round(seeded - accounts, 1),
            "features": round(featured - seeded, 1),
        },
    }


# --------------------------------------------------------------------------------------
# A small HTTP/1.1 client on asyncio streams.


class HttpError(Exception):
    """The request did not get a whole response (connection refused or reset, timeout)."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class HttpConnection:
    """One keep-alive connection to host:port, opened again whenever the server closed it
    (gunicorn's sync workers close after every response)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.base_headers = {"Host": f"{host}:{port}", **headers}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def request(
        self, method: str, path: str, *, body: bytes = b"", content_type: str | None = None
    ) -> Reply:
        try:
            return await asyncio.wait_for(
                self._request(method, path, body, content_type), TIMEOUT_S
            )
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.close()
            raise HttpError(type(exc).__name__) from exc

    async def _request(
        self, method: str, path: str, body: bytes, content_type: str | None
    ) -> Reply:
        headers = dict(self.base_headers)
        if body or method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        if content_type:
            headers["Content-Type"] = content_type
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        payload = head.encode("latin-1") + b"\r\n" + body
        reused = self.writer is not None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(payload)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line and reused:
            # The server closed the idle connection before reading this request: send it
            # again once on a new connection (nothing of it was processed).
            await self.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(payload)
            await self.writer.drain()
            status_line = await self.reader.readline()
        reader = self.reader
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"bad status line {status_line[:80]!r}")
        status = int(parts[1])
        reply_headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise asyncio.IncompleteReadError(b"", None)
            name, _, value = line.decode("latin-1").partition(":")
            reply_headers[name.strip().lower()] = value.strip()
        if reply_headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            data = b"".join(chunks)
        elif "content-length" in reply_headers:
            data = await reader.readexactly(int(reply_headers["content-length"]))
        elif status in (204, 304) or method == "HEAD":
            data = b""
        else:
            data = await reader.read()  # until the server closes
            reply_headers["connection"] = "close"
        if reply_headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
            await self.close()
        return Reply(status, reply_headers, data)


# --------------------------------------------------------------------------------------
# Recording what the raters saw.


@dataclass
class Recorder:
    """Every request of a level: latency per kind, statuses, errors, acknowledged ratings."""

    started: float
    stop_at: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    no_clip: int = 0
    ratings_in_window: int = 0
    acknowledged: list[dict] = field(default_factory=list)  # one per 201 or 200 reply
    unknown: list[dict] = field(default_factory=list)  # ratings that never got an answer
    loop_lag: list[float] = field(default_factory=list)

    def record(self, kind: str, seconds: float, reply: Reply | None, error: str = "") -> None:
        self.latencies[kind].append(seconds)
        if reply is None:
            self.statuses[(kind, "transport")] += 1
            self.errors[f"{kind}: {error}"] += 1
        else:
            self.statuses[(kind, reply.status)] += 1


async def timed(
    recorder: Recorder,
    kind: str,
    connection: HttpConnection,
    method: str,
    path: str,
    *,
    ok: Iterable[int],
    body: bytes = b"",
) -> Reply | None:
    """The reply of one request, recorded; None (recorded as an error) when it failed or
    answered a status outside `ok`."""
    started = time.perf_counter()
    try:
        reply = await connection.request(
            method, path, body=body, content_type="application/json" if body else None
        )
    except HttpError as exc:
        recorder.record(kind, time.perf_counter() - started, None, str(exc))
        return None
    recorder.record(kind, time.perf_counter() - started, reply)
    if reply.status not in ok:
        code = ""
        with contextlib.suppress(ValueError, AttributeError):
            code = reply.json().get("code", "")
        recorder.errors[f"{kind}: {reply.status} {code}".strip()] += 1
        return None
    return reply


async def rate_once(
    connection: HttpConnection,
    recorder: Recorder,
    *,
    project_id: int,
    rater: int,
    pause: bool,
    rng: random.Random,
) -> str:
    """One rater's cycle: next, audio, listen, rating. Returns 'rated', 'no_clip' or
    'error'."""
    lease = await timed(
        recorder, "next", connection, "POST", f"/api/v1/projects/{project_id}/next/", ok=(200, 204)
    )
    if lease is None:
        return "error"
    if lease.status == 204:
        recorder.no_clip += 1
        return "no_clip"
    data = lease.json()
    assignment = data["assignment"]["id"]
    audio = await timed(
        recorder, "audio", connection, "GET", urlparse(data["clip"]["audio_url"]).path, ok=(200,)
    )
    if audio is None:
        return "error"
    if pause:
        # A rater listens to the end even when the level ends meanwhile: cutting every
        # pause at the level's end sent the ratings of most raters in the same instant, a
        # burst no crowd makes (it was most of the ratings' p95 and p99 in runs 8-14).
        await asyncio.sleep(float(data["clip"]["duration_s"]) + rng.uniform(1.0, 3.0))
    token = uuid.uuid4().hex
    body = json.dumps(
        {
            "values": {"arousal": round(rng.uniform(-1, 1), 3), "valence": 0.1},
            "client_token": token,
            "time_spent_ms": 3000,
        }
    ).encode()
    path = f"/api/v1/assignments/{assignment}/rating/"
    for attempt in range(3):  # a rating lost in transit is sent again with the same token
        reply = await timed(recorder, "rating", connection, "POST", path, ok=(200, 201), body=body)
        if reply is not None:
            stored = reply.json()
            recorder.acknowledged.append(
                {
                    "id": stored.get("id"),
                    "rater": rater,
                    "assignment": assignment,
                    "token": token,
                    "status": reply.status,
                }
            )
            if time.monotonic() <= recorder.stop_at:
                recorder.ratings_in_window += 1
            return "rated"
        if attempt < 2:
            await asyncio.sleep(1.0)
    recorder.unknown.append({"rater": rater, "assignment": assignment, "token": token})
    return "error"


async def rater_loop(
    host: str,
    port: int,
    token: str,
    recorder: Recorder,
    *,
    project_id: int,
    rater: int,
    pause: bool,
    delay: float,
    seed: int,
) -> None:
    rng = random.Random(seed)
    connection = HttpConnection(host, port, {"Authorization": f"Token {token}"})
    await asyncio.sleep(delay)
    try:
        while time.monotonic() < recorder.stop_at:
            outcome = await rate_once(
                connection, recorder, project_id=project_id, rater=rater, pause=pause, rng=rng
            )
            if outcome != "rated":
                await asyncio.sleep(1.0)  # as the rater page waits before asking again
    finally:
        await connection.close()


async def loop_lag_monitor(recorder: Recorder, interval: float = 0.05) -> None:
    """How late the event loop wakes up: what the client adds to every latency."""
    while time.monotonic() < recorder.stop_at:
        expected = time.monotonic() + interval
        await asyncio.sleep(interval)
        recorder.loop_lag.append(max(0.0, time.monotonic() - expected))


# gunicorn's access log, one line per request: method, path, status and the time the
# worker spent on it in microseconds (from the request parsed to the response sent; a
# request's wait for a free worker is not in it).
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(D)s"


def server_times(access_log: Path, offset: int) -> dict[str, dict]:
    """p50/p95/p99 of gunicorn's own time per request kind, from the access log lines
    written after `offset`: the client's latency minus this is the wait for a worker."""
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with access_log.open("rb") as handle:
        handle.seek(offset)
        for line in handle.read().decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) != 4 or not parts[3].isdigit():
                continue
            path = parts[1]
            kind = (
                "next"
                if path.endswith("/next/")
                else "audio"
                if path.endswith("/audio/")
                else "rating"
                if path.endswith("/rating/")
                else None
            )
            if kind:
                times[kind].append(int(parts[3]) / 1e6)
    return {kind: quantiles_ms(values) for kind, values in times.items()}


def quantiles_ms(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    return {
        "n": len(values),
        "p50": round(statistics.median(values) * 1000, 1),
        "p95": round(percentile(values, 95) * 1000, 1),
        "p99": round(percentile(values, 99) * 1000, 1),
        "max": round(max(values) * 1000, 1),
    }


async def progress_display(
    recorder: Recorder, label: str, say: Callable[[str], None], every: float
) -> None:
    while time.monotonic() < recorder.stop_at + 60:
        await asyncio.sleep(every)
        now = time.monotonic()
        elapsed = min(now, recorder.stop_at) - recorder.started
        total = recorder.stop_at - recorder.started
        nxt = recorder.latencies["next"][-2000:]
        rat = recorder.latencies["rating"][-2000:]
        p95 = (
            f"p95 next {percentile(nxt, 95) * 1000:.0f} ms, rating "
            f"{percentile(rat, 95) * 1000:.0f} ms"
            if nxt and rat
            else "p95 -"
        )
        say(
            f"  {label}: {elapsed:4.0f}/{total:.0f} s, {recorder.ratings_in_window} ratings "
            f"({recorder.ratings_in_window / max(elapsed, 1e-9):.1f}/s), "
            f"{sum(recorder.errors.values())} errors, {recorder.no_clip} no-clip, {p95}"
            + ("" if now < recorder.stop_at else " (finishing)")
        )


class LockSampler(threading.Thread):
    """Once a second during a level: how many of the database's sessions wait for a lock,
    and what the sessions blocking them are running (where next and rating queue up)."""

    def __init__(self, database_url: str, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.database_url, self.interval = database_url, interval
        self.stopped = threading.Event()
        self.samples = 0
        self.waiting: list[int] = []
        self.blockers: Counter = Counter()

    def run(self) -> None:
        import psycopg

        try:
            conn = psycopg.connect(self.database_url, autocommit=True)
        except psycopg.Error:
            return
        with conn:
            while not self.stopped.wait(self.interval):
                rows = conn.execute(
                    """
                    SELECT w.pid, b.pid, left(regexp_replace(b.query, '\\s+', ' ', 'g'), 90)
                    FROM pg_stat_activity w
                    LEFT JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid) ON true
                    LEFT JOIN pg_stat_activity b ON b.pid = bp.pid
                    WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'
                    """
                ).fetchall()
                self.samples += 1
                self.waiting.append(len({row[0] for row in rows}))
                self.blockers.update({row[2] for row in rows if row[2]})

    def summary(self) -> dict:
        self.stopped.set()
        self.join(timeout=5)
        return {
            "samples": self.samples,
            "mean_waiting": round(statistics.fmean(self.waiting), 2) if self.waiting else 0,
            "max_waiting": max(self.waiting, default=0),
            "top_blockers": dict(self.blockers.most_common(3)),
        }


CLIP_TABLE_COUNTERS = (
    "n_tup_upd",
    "n_tup_hot_upd",
    "n_dead_tup",
    "autovacuum_count",
    "vacuum_count",
)
# compose.yaml's PostgreSQL looks for tables to vacuum this often.
AUTOVACUUM_NAPTIME_S = 15.0


def _threshold(kind: str, own: dict, defaults: dict, tuples: float) -> float:
    """Autovacuum's threshold of a table for `kind` ("vacuum" or "analyze")."""
    base, scale = f"autovacuum_{kind}_threshold", f"autovacuum_{kind}_scale_factor"
    return float(own.get(base, defaults[base])) + tuples * float(own.get(scale, defaults[scale]))


class AutovacuumStandIn(threading.Thread):
    """Autovacuum's rule, applied by the bench on a server where autovacuum is off (as on
    the development machines): every AUTOVACUUM_NAPTIME_S, VACUUM each table whose dead
    rows exceed its threshold and ANALYZE each whose rows changed since its last analyze
    beyond its own (its storage parameters, else the server's): a table's statistics
    left as they were after setup plan queries for a table a twentieth of its size."""

    def __init__(self, database_url: str) -> None:
        super().__init__(name="bench-autovacuum", daemon=True)
        self.database_url = database_url
        self.stopped = threading.Event()
        self.vacuums: Counter = Counter()
        self.analyzes: Counter = Counter()
        self.seconds = 0.0

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            defaults = dict(
                conn.execute(
                    "SELECT name, setting::float FROM pg_settings WHERE name IN ("
                    "'autovacuum_vacuum_threshold', 'autovacuum_vacuum_scale_factor', "
                    "'autovacuum_analyze_threshold', 'autovacuum_analyze_scale_factor')"
                ).fetchall()
            )
            while not self.stopped.wait(AUTOVACUUM_NAPTIME_S):
                rows = conn.execute(
                    "SELECT s.relname, s.n_dead_tup, s.n_mod_since_analyze, "
                    "GREATEST(c.reltuples, 0), c.reloptions "
                    "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                ).fetchall()
                for name, dead, changed, tuples, options in rows:
                    own = dict(o.split("=", 1) for o in options or [])

                    for command, count, due in (
                        (
                            "VACUUM",
                            self.vacuums,
                            dead > _threshold("vacuum", own, defaults, tuples),
                        ),
                        (
                            "ANALYZE",
                            self.analyzes,
                            changed > _threshold("analyze", own, defaults, tuples),
                        ),
                    ):
                        if due:
                            began = time.monotonic()
                            conn.execute(f'{command} "{name}"')
                            self.seconds += time.monotonic() - began
                            count[name] += 1

    def summary(self) -> dict:
        self.stopped.set()
        self.join(timeout=60)
        return {
            "naptime_s": AUTOVACUUM_NAPTIME_S,
            "vacuums": dict(self.vacuums.most_common()),
            "analyzes": dict(self.analyzes.most_common()),
            "seconds": round(self.seconds, 1),
        }


def autovacuum_on(database_url: str) -> bool:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    return bool(row and row[0] == "on")


def clip_table_counters(database_url: str | None) -> dict[str, int] | None:
    """PostgreSQL's counters of the clip table: row updates (HOT ones leave no dead entry
    in its indexes), dead row versions, autovacuum runs."""
    if not database_url:
        return None
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT {', '.join(CLIP_TABLE_COUNTERS)} FROM pg_stat_user_tables "
            "WHERE relname = 'annotate_clip'"
        ).fetchone()
    return dict(zip(CLIP_TABLE_COUNTERS, row, strict=True)) if row else None


def clip_table_churn(before: dict[str, int] | None, after: dict[str, int] | None) -> dict | None:
    """What a level did to the clip table: updates and HOT updates in it, the dead row
    versions at its end, vacuums of it (autovacuum's or the bench's stand-in)."""
    if not before or not after:
        return None
    return {
        "updates": after["n_tup_upd"] - before["n_tup_upd"],
        "hot_updates": after["n_tup_hot_upd"] - before["n_tup_hot_upd"],
        "dead_rows_end": after["n_dead_tup"],
        "vacuums": after["autovacuum_count"]
        + after["vacuum_count"]
        - before["autovacuum_count"]
        - before["vacuum_count"],
    }


def _proc_table() -> tuple[dict[int, list[int]], dict[int, float]]:
    """Each live process's children, and its CPU seconds (user + system, its own and its
    reaped children's), from /proc (empty where it is absent)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        stats[pid] = sum(int(f) for f in fields[11:15]) / tick
    return children, stats


def process_tree(*root_pids: int) -> list[int]:
    """These processes and their descendants living now, parents first."""
    children, _ = _proc_table()
    tree, todo = [], list(root_pids)
    while todo:
        pid = todo.pop(0)
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def tree_cpu_seconds(root_pids: Iterable[int]) -> float:
    """CPU seconds (user + system) used so far by these processes and their children, with
    the children that exited (PostgreSQL's backends, a gunicorn worker replaced)."""
    children, stats = _proc_table()
    total, todo = 0.0, list(root_pids)
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "Tt"
    except OSError:
        return True  # gone


@contextlib.contextmanager
def paused(root_pid: int):
    """The process tree stopped (SIGSTOP, children first) and continued afterwards."""
    tree = process_tree(root_pid)
    for pid in reversed(tree):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 2.0  # a signal is delivered, not instant
    while time.monotonic() < deadline and not all(_stopped(pid) for pid in tree):
        time.sleep(0.01)
    try:
        yield
    finally:
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def cpu_during(owners: dict[str, int], step: Callable[[], dict]) -> dict:
    """`step()`'s result with the CPU seconds each owner's process tree used meanwhile."""
    before = {name: tree_cpu_seconds([pid]) for name, pid in owners.items()}
    result = step()
    result["cpu_s"] = {
        name: round(tree_cpu_seconds([pid]) - before[name], 2) for name, pid in owners.items()
    }
    return result


def machine_cpu_seconds() -> dict[str, float]:
    """The machine's CPU seconds so far, all cores (from /proc/stat; empty without it):
    busy (user, nice, system, interrupts), stolen by the hypervisor, idle (with I/O wait)."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return {
        "busy": (user + nice + system + irq + softirq) / tick,
        "steal": steal / tick,
        "idle": (idle + iowait) / tick,
    }


def postmaster_pid(database_url: str | None) -> int | None:
    """PostgreSQL's postmaster when it runs on this machine (the parent of our backend)."""
    if not database_url:
        return None
    import psycopg

    try:
        with psycopg.connect(database_url) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            # Read while the connection is open: the backend exits when it closes.
            stat = (Path("/proc") / str(backend) / "stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, psycopg.Error, ValueError):
        return None


def cpu_table(rows: list[dict]) -> list[str]:
    """Where each level's CPU went, in core-seconds: the machine's busy, stolen and idle
    time, and the processes that used it (the rest: the kernel, vacuums, anything else)."""
    measured = [level for level in rows if level.get("machine_cpu_s")]
    if not measured:
        return []
    out = [
        "",
        "Where the CPU went (core-seconds over the level; 2 cores give 2 per second):",
        "",
        "| level | machine busy / stolen / idle | gunicorn | celery (niced) | postgres | "
        "load client | the rest |",
        "|---|---|---|---|---|---|---|",
    ]
    for level in measured:
        machine, server = level["machine_cpu_s"], level.get("server_cpu_s", {})
        owned = sum(server.values()) + level.get("client_cpu_s", 0.0)
        out.append(
            f"| {level['label']} | {machine['busy']} / {machine['steal']} / {machine['idle']} | "
            + " | ".join(str(server.get(k, "-")) for k in ("gunicorn", "celery", "postgres"))
            + f" | {level.get('client_cpu_s', '-')} | {round(machine['busy'] - owned, 1)} |"
        )
    return out


def run_async(coroutine):
    """`asyncio.run`, in a thread of its own when this thread already runs an event loop
    (Playwright's sync API leaves one running in a test session)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="bench-load-client")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def run_level(
    *,
    host: str,
    port: int,
    tokens: list[str],
    project_id: int,
    seconds: float,
    pause: bool,
    label: str,
    say: Callable[[str], None],
    progress_every: float,
    database_url: str | None = None,
    server_pids: dict[str, int] | None = None,
    access_log: Path | None = None,
) -> dict:
    """`len(tokens)` raters for `seconds`; a level's figures."""
    server_pids = server_pids or {}
    access_from = access_log.stat().st_size if access_log and access_log.exists() else 0
    server_cpu_before = {k: tree_cpu_seconds([pid]) for k, pid in server_pids.items()}
    machine_before = machine_cpu_seconds()
    clip_table_before = clip_table_counters(database_url)
    n = len(tokens)
    started = time.monotonic()
    recorder = Recorder(started=started, stop_at=started + seconds)
    # Raters arrive over the first few seconds, not all in the same millisecond.
    spread = min(5.0 if pause else 1.0, seconds / 4)
    load_before = os.getloadavg()
    cpu_before = time.process_time()
    wall_before = time.time()
    tasks = [
        asyncio.create_task(
            rater_loop(
                host,
                port,
                token,
                recorder,
                project_id=project_id,
                rater=i,
                pause=pause,
                delay=spread * i / max(n, 1),
                seed=i * 7919 + n,
            )
        )
        for i, token in enumerate(tokens)
    ]
    monitor = asyncio.create_task(loop_lag_monitor(recorder))
    locks = LockSampler(database_url) if database_url else None
    if locks:
        locks.start()
    display = asyncio.create_task(progress_display(recorder, label, say, progress_every))
    await asyncio.gather(*tasks)
    finished = time.monotonic()
    display.cancel()
    await monitor
    lock_waits = locks.summary() if locks else None
    clip_table = clip_table_churn(clip_table_before, clip_table_counters(database_url))
    with contextlib.suppress(asyncio.CancelledError):
        await display
    client_cpu = time.process_time() - cpu_before
    server_cpu = {
        name: round(tree_cpu_seconds([pid]) - server_cpu_before[name], 3)
        for name, pid in server_pids.items()
    }
    machine = {k: round(v - machine_before[k], 1) for k, v in machine_cpu_seconds().items()}
    errors = sum(recorder.errors.values())
    requests_total = sum(len(v) for v in recorder.latencies.values())
    return {
        "label": label,
        "raters": n,
        "pause": pause,
        "seconds": round(seconds, 1),
        "drain_seconds": round(finished - recorder.stop_at, 1),
        "wall": [wall_before, wall_before + (finished - started)],
        "ratings": recorder.ratings_in_window,
        "ratings_per_s": round(recorder.ratings_in_window / seconds, 1),
        "requests": requests_total,
        "requests_per_s": round(requests_total / (finished - started), 1),
        "errors": errors,
        "error_kinds": dict(recorder.errors.most_common()),
        "no_clip": recorder.no_clip,
        "statuses": {f"{k} {s}": v for (k, s), v in sorted(recorder.statuses.items(), key=str)},
        "latency_ms": {kind: quantiles_ms(recorder.latencies[kind]) for kind in KINDS},
        "server_ms": server_times(access_log, access_from) if access_log else None,
        "client_cpu_percent": round(100 * client_cpu / (finished - started), 0),
        "loop_lag_ms": quantiles_ms(recorder.loop_lag),
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "lock_waits": lock_waits,
        "clip_table": clip_table,
        "server_cpu_s": server_cpu,
        "client_cpu_s": round(client_cpu, 1),
        "machine_cpu_s": machine,
        "web_cpu_ms_per_request": round(1000 * server_cpu["gunicorn"] / max(requests_total, 1), 1)
        if "gunicorn" in server_cpu
        else None,
        "_acknowledged": recorder.acknowledged,
        "_unknown": recorder.unknown,
    }


# --------------------------------------------------------------------------------------
# Services.


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log_path: Path
    log: object

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()  # type: ignore[attr-defined]

    def tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]


def start_service(name: str, command: list[str], env: dict, log_path: Path) -> Service:
    log = log_path.open("w")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Service(name, proc, log_path, log)


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, service: Service):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited at start:\n{service.tail()}")
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}:\n{service.tail()}")


def answers_ok(url: str) -> bool:
    """Whether `url` answers 200 within 5 s."""
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def services_reachable(database_url: str, redis_url: str) -> str | None:
    """None when PostgreSQL and Redis answer, else why not."""
    import psycopg
    import redis

    parsed = urlparse(database_url)
    try:
        psycopg.connect(parsed._replace(path="/postgres").geturl(), connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {parsed.hostname}:{parsed.port or 5432} is not reachable: {exc}"
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {redis_url} is not reachable: {exc}"
    return None


def drop_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')


def retrain(base: str, admin_token: str, project_id: int) -> str:
    """Ask for a retrain through the API as an admin; the status and code it got."""
    try:
        reply = requests.post(
            f"{base}/api/v1/projects/{project_id}/retrain/",
            headers={"Authorization": f"Token {admin_token}"},
            timeout=TIMEOUT_S,
        )
    except requests.RequestException as exc:
        return f"failed: {type(exc).__name__}"
    code = ""
    with contextlib.suppress(ValueError, AttributeError):
        code = reply.json().get("code", "") or ""
    return f"{reply.status_code} {code}".strip()


# --------------------------------------------------------------------------------------
# One rater's round trip, sequentially: Concord and Label Studio.


def live_run(conn, project_id: int) -> bool:
    """Whether the project has a training run queued or running."""
    return (
        conn.execute(
            "SELECT 1 FROM annotate_trainingrun WHERE project_id = %s "
            "AND state IN ('queued', 'running') LIMIT 1",
            [project_id],
        ).fetchone()
        is not None
    )


def wait_for_no_live_run(database_url: str, project_id: int, *, timeout: float) -> float:
    """Seconds waited until the project had no run queued or running (at most `timeout`)."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while live_run(conn, project_id) and time.monotonic() - started < timeout:
            time.sleep(0.5)
    return time.monotonic() - started


def wait_for_quiet_worker(
    worker_pid: int, database_url: str, project_id: int, *, timeout: float, window: float = 2.0
) -> float:
    """Seconds waited until the worker was quiet: no training run queued or running and
    under a tenth of a core used over `window` seconds (at most `timeout`). A worker just
    started first works through the seed ratings' passes, a training run and its scoring."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() - started < timeout:
            before = tree_cpu_seconds([worker_pid])
            time.sleep(window)
            busy = tree_cpu_seconds([worker_pid]) - before > 0.1 * window
            if not busy and not live_run(conn, project_id):
                break
    return time.monotonic() - started


class RetrainKeeper:
    """Keeps a retrain running through a level: asks for one (as an admin, through the
    API) whenever the project has none queued or running. `asked` counts the answers."""

    def __init__(self, base: str, admin_token: str, project_id: int, database_url: str) -> None:
        self.base, self.admin_token, self.project_id = base, admin_token, project_id
        self.database_url = database_url
        self.asked: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RetrainKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while True:
                if not live_run(conn, self.project_id):
                    self.asked[retrain(self.base, self.admin_token, self.project_id)] += 1
                if self._stop.wait(0.5):
                    return

    def summary(self) -> str:
        return ", ".join(f"{answer} x{n}" for answer, n in self.asked.most_common()) or "none"


def round_trips(step: Callable[[], None], rounds: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return times


class Stopwatch:
    """Seconds per request kind of the round trip being timed (the last `rounds` kept)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}

    @contextlib.contextmanager
    def time(self, kind: str):
        started = time.perf_counter()
        yield
        self.seconds[kind].append(time.perf_counter() - started)

    def quantiles(self, rounds: int) -> dict:
        """Per kind, and next + rating (the issue's round trip: the audio is a download
        the rater's browser starts while the page is shown)."""
        last = {kind: values[-rounds:] for kind, values in self.seconds.items()}
        out = {f"{kind}_ms": quantiles_ms(values) for kind, values in last.items()}
        out["next_plus_rating_ms"] = quantiles_ms(
            [a + b for a, b in zip(last["next"], last["rating"], strict=True)]
        )
        return out


def token_session(token: str) -> requests.Session:
    """Requests signed with a rater's API token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session


def form_session(base: str, login_path: str, credentials: dict[str, str]) -> requests.Session:
    """Requests as a browser makes them to a Django site: signed in on its login form (a
    session cookie), then sending the CSRF token with every request."""
    session = requests.Session()
    page = session.get(f"{base}{login_path}", timeout=TIMEOUT_S)
    page.raise_for_status()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    csrf = match.group(1) if match else session.cookies.get("csrftoken", "")
    signed_in = session.post(
        f"{base}{login_path}",
        data={"csrfmiddlewaretoken": csrf, **credentials},
        headers={"Referer": f"{base}{login_path}"},
        timeout=TIMEOUT_S,
    )
    if "sessionid" not in session.cookies:
        raise RuntimeError(f"sign-in at {login_path} failed ({signed_in.status_code})")
    session.headers["X-CSRFToken"] = session.cookies.get("csrftoken", "")
    session.headers["Referer"] = base + "/"
    return session


def concord_round_trip(session: requests.Session, base: str, project_id: int, rounds: int) -> dict:
    acknowledged: list[dict] = []
    watch = Stopwatch()

    def step() -> None:
        with watch.time("next"):
            lease = session.post(f"{base}/api/v1/projects/{project_id}/next/", timeout=TIMEOUT_S)
        lease.raise_for_status()
        data = lease.json()
        with watch.time("audio"):
            session.get(data["clip"]["audio_url"], timeout=TIMEOUT_S).raise_for_status()
        token_ = uuid.uuid4().hex
        with watch.time("rating"):
            rating = session.post(
                f"{base}/api/v1/assignments/{data['assignment']['id']}/rating/",
                json={"values": {"arousal": 0.1, "valence": -0.2}, "client_token": token_},
                timeout=TIMEOUT_S,
            )
        rating.raise_for_status()
        acknowledged.append(
            {
                "id": rating.json()["id"],
                "rater": -1,
                "assignment": data["assignment"]["id"],
                "token": token_,
                "status": rating.status_code,
            }
        )

    times = round_trips(step, rounds)
    return {
        "round_trip_ms": quantiles_ms(times),
        **watch.quantiles(rounds),
        "_acknowledged": acknowledged,
    }


LS_CONFIG = """<View>
  <Audio name="audio" value="$audio"/>
  <Number name="arousal" toName="audio" min="-1" max="1" step="0.01"/>
  <Number name="valence" toName="audio" min="-1" max="1" step="0.01"/>
</View>"""


def label_studio_install(venv: Path, say: Callable[[str], None]) -> str | None:
    """None when Label Studio is (or now is) installed in `venv`, else why not."""
    if (venv / "bin" / "label-studio").exists():
        return None
    python = shutil.which("python3.11")
    if python is None:
        return "python3.11 is not installed"
    say(f"installing label-studio=={LS_VERSION} into {venv} (a few minutes)")
    try:
        subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            # Label Studio 1.23.2 asks for sentry-sdk>=2.16 and fails at start with 3.0.
            [
                str(venv / "bin" / "pip"),
                "install",
                "-q",
                f"label-studio=={LS_VERSION}",
                "sentry-sdk<3",
            ],
            check=True,
            capture_output=True,
            timeout=1200,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"pip install failed: {exc} {detail[-500:].decode(errors='replace')}"
    return None


def label_studio_round_trip(
    *, venv: Path, wavs: list[Path], rounds: int, say: Callable[[str], None]
) -> dict:
    """One rater's round trip on Label Studio: GET next task, GET its audio, POST an
    annotation, signed in with a session as the page is. {'skipped': why} on failure."""
    why = label_studio_install(venv, say)
    if why:
        return {"skipped": why}
    data_dir = VAR / "label-studio"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    port = free_port()
    email, password = "rater@example.com", secrets.token_urlsafe(12)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))},
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
    }
    command = [
        str(venv / "bin" / "label-studio"),
        "start",
        "--no-browser",
        "--host",
        f"http://127.0.0.1:{port}",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--username",
        email,
        "--password",
        password,
    ]
    service = start_service("label-studio", command, env, VAR / "label-studio.log")
    base = f"http://127.0.0.1:{port}"
    try:
        say("starting Label Studio (first start migrates its SQLite database)")

        wait_until(
            lambda: answers_ok(f"{base}/health"), timeout=300, what="Label Studio", service=service
        )
        session = form_session(base, "/user/login/", {"email": email, "password": password})
        project = session.post(
            f"{base}/api/projects/",
            json={"title": "load", "label_config": LS_CONFIG},
            timeout=TIMEOUT_S,
        )
        project.raise_for_status()
        pid = project.json()["id"]
        # One form field per file: Label Studio reads one file per field name.
        files = [(f"file{i}", (p.name, p.read_bytes(), "audio/wav")) for i, p in enumerate(wavs)]
        imported = session.post(f"{base}/api/projects/{pid}/import", files=files, timeout=300)
        imported.raise_for_status()
        n_tasks = imported.json().get("task_count")
        if n_tasks is not None and n_tasks < rounds + 5:
            raise RuntimeError(f"Label Studio made {n_tasks} tasks of {len(wavs)} files")

        def step() -> None:
            task = session.get(f"{base}/api/projects/{pid}/next/", timeout=TIMEOUT_S)
            task.raise_for_status()
            data = task.json()
            audio_url = data["data"]["audio"]
            session.get(
                audio_url if audio_url.startswith("http") else base + audio_url, timeout=TIMEOUT_S
            ).raise_for_status()
            session.post(
                f"{base}/api/tasks/{data['id']}/annotations/?project={pid}",
                json={
                    "result": [
                        {
                            "from_name": name,
                            "to_name": "audio",
                            "type": "number",
                            "value": {"number": value},
                        }
                        for name, value in (("arousal", 0.1), ("valence", -0.2))
                    ],
                    "lead_time": 3.0,
                    "project": pid,
                },
                timeout=TIMEOUT_S,
            ).raise_for_status()

        times = round_trips(step, rounds)
        annotations = session.get(f"{base}/api/projects/{pid}/", timeout=TIMEOUT_S).json()
        return {
            "version": LS_VERSION,
            "server": "label-studio start (Django runserver, SQLite)",
            "round_trip_ms": quantiles_ms(times),
            "tasks": len(wavs),
            "annotations": annotations.get("total_annotations_number"),
        }
    except (RuntimeError, requests.RequestException, KeyError, ValueError) as exc:
        return {"skipped": f"Label Studio run failed: {exc}", "log": service.tail(1500)}
    finally:
        service.stop()


# --------------------------------------------------------------------------------------
# Checks on the database, after the servers stopped.


def intervals_max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals [start, end) that cover one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    depth = best = 0
    for _, step in events:  # at equal times an end (-1) sorts before a start (+1)
        depth += step
        best = max(best, depth)
    return best


def database_checks(
    database_url: str,
    project_id: int,
    rater_ids: list[int],
    acknowledged: list[dict],
    unknown: list[dict],
) -> dict:
    """Leases and ratings as stored, against what the clients were told."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        now = datetime.now(UTC)
        rows = conn.execute(
            """
            SELECT a.clip_id, a.status, a.created_at, a.expires_at, r.created_at
            FROM annotate_assignment a LEFT JOIN annotate_rating r ON r.assignment_id = a.id
            WHERE a.project_id = %s
            """,
            [project_id],
        ).fetchall()
        clips = {
            cid: (wanted, leases, n)
            for cid, wanted, leases, n in conn.execute(
                "SELECT id, ratings_wanted, active_leases, n_ratings FROM annotate_clip "
                "WHERE project_id = %s",
                [project_id],
            )
        }
        stored = conn.execute(
            """
            SELECT r.id, r.rater_id, r.client_token, r.assignment_id FROM annotate_rating r
            JOIN annotate_clip c ON c.id = r.clip_id
            WHERE c.project_id = %s AND r.rater_id = ANY(%s)
            """,
            [project_id, rater_ids],
        ).fetchall()
        per_clip_ratings = dict(
            conn.execute(
                "SELECT r.clip_id, count(*) FROM annotate_rating r JOIN annotate_clip c "
                "ON c.id = r.clip_id WHERE c.project_id = %s GROUP BY r.clip_id",
                [project_id],
            ).fetchall()
        )
        states = dict(
            conn.execute(
                "SELECT state, count(*) FROM annotate_clip WHERE project_id = %s GROUP BY state",
                [project_id],
            ).fetchall()
        )

    # 1. No clip leased to more raters at once than it wants.
    by_clip: dict[int, list[tuple[float, float]]] = {}
    active_by_clip: Counter = Counter()
    for clip_id, status, created, expires, rated in rows:
        if status == "completed" and rated is not None:
            end = rated
        elif status == "active":
            end = now
            active_by_clip[clip_id] += 1
        else:  # expired (its slot is given back no earlier than expires_at)
            end = min(expires, now)
        by_clip.setdefault(clip_id, []).append((created.timestamp(), end.timestamp()))
    overfilled = []
    max_overlap = 0
    for clip_id, intervals in by_clip.items():
        overlap = intervals_max_overlap(intervals)
        max_overlap = max(max_overlap, overlap)
        if overlap > clips[clip_id][0]:
            overfilled.append({"clip": clip_id, "overlap": overlap, "wanted": clips[clip_id][0]})
    leases_counter_off = [
        cid for cid, (_, leases, _) in clips.items() if leases != active_by_clip.get(cid, 0)
    ]
    ratings_counter_off = [
        cid for cid, (_, _, n) in clips.items() if n != per_clip_ratings.get(cid, 0)
    ]

    # 2. Every acknowledged rating stored once; every client_token once.
    by_id = {row[0]: row for row in stored}
    token_counts = Counter((row[1], row[2]) for row in stored)
    duplicated_tokens = [key for key, n in token_counts.items() if n > 1]
    created = [a for a in acknowledged if a["status"] == 201]
    ids_201 = Counter(a["id"] for a in created)
    missing = [a for a in acknowledged if a["id"] not in by_id]
    mismatched = [
        a
        for a in acknowledged
        if a["id"] in by_id
        and (by_id[a["id"]][2] != a["token"] or by_id[a["id"]][3] != a["assignment"])
    ]
    acked_ids = {a["id"] for a in acknowledged}
    unacknowledged = [row[0] for row in stored if row[0] not in acked_ids]
    checks = {
        "leases": {
            "assignments": len(rows),
            "clips_leased": len(by_clip),
            "max_raters_at_once_on_a_clip": max_overlap,
            "clips_over_wanted": overfilled[:20],
            "ok": not overfilled,
        },
        "counters": {
            "clips_active_leases_off": leases_counter_off[:20],
            "clips_n_ratings_off": ratings_counter_off[:20],
            "ok": not leases_counter_off and not ratings_counter_off,
        },
        "ratings": {
            "acknowledged_201": len(created),
            "acknowledged_200_replay": len(acknowledged) - len(created),
            "stored": len(stored),
            "201_for_the_same_rating_twice": sum(1 for n in ids_201.values() if n > 1),
            "acknowledged_not_stored": len(missing),
            "stored_with_other_token_or_lease": len(mismatched),
            "client_tokens_stored_twice": len(duplicated_tokens),
            "stored_without_an_answer": len(unacknowledged),
            "requests_without_an_answer": len(unknown),
            # A rating the client never heard back about may or may not be stored; any
            # other stored rating without a 201/200 would be one nobody asked for.
            "ok": not missing
            and not mismatched
            and not duplicated_tokens
            and all(n == 1 for n in ids_201.values())
            and len(unacknowledged) <= len(unknown),
        },
        "clip_states": states,
    }
    checks["verdict"] = (
        "PASS" if all(checks[k]["ok"] for k in ("leases", "counters", "ratings")) else "FAIL"
    )
    return checks


def training_timeline(database_url: str, project_id: int) -> list[dict]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT t.id, t.trigger, t.state, t.outcome, t.created_at, t.started_at,
                   t.finished_at, v.promoted_at, v.scored_at
            FROM annotate_trainingrun t LEFT JOIN annotate_modelversion v ON v.run_id = t.id
            WHERE t.project_id = %s ORDER BY t.id
            """,
            [project_id],
        ).fetchall()
    stamp = lambda d: d.timestamp() if d else None  # noqa: E731
    return [
        {
            "run": r[0],
            "trigger": r[1],
            "state": r[2],
            "outcome": r[3],
            "created": stamp(r[4]),
            "started": stamp(r[5]),
            "finished": stamp(r[6]),
            "promoted": stamp(r[7]),
            "scored": stamp(r[8]),
        }
        for r in rows
    ]


def overlap_seconds(a: tuple[float, float], b: tuple[float | None, float | None]) -> float:
    start, end = b
    if start is None:
        return 0.0
    end = end if end is not None else a[1]
    return max(0.0, min(a[1], end) - max(a[0], start))


def background_work(level: dict, runs: list[dict]) -> dict:
    """How many seconds of the level a training run and a scoring pass were going on."""
    window = (level["wall"][0], level["wall"][0] + level["seconds"])
    training = sum(overlap_seconds(window, (r["started"], r["finished"])) for r in runs)
    scoring = sum(
        overlap_seconds(window, (r["finished"], r["scored"])) for r in runs if r["promoted"]
    )
    return {"training_s": round(training, 1), "scoring_s": round(scoring, 1)}


# --------------------------------------------------------------------------------------
# The run.


@dataclass
class Options:
    raters: list[int] = field(default_factory=lambda: [50, 200, 500])
    seconds: float = 60.0
    no_pause: bool = False
    capacity: bool = False
    capacity_steps: list[int] = field(default_factory=lambda: [4, 8, 16, 32, 64, 128])
    capacity_seconds: float = 20.0
    p95_bound_ms: float = 100.0
    p95_stop_ms: float = 2000.0
    label_studio: bool = False
    ls_venv: Path = Path("/tmp/ls-venv")
    round_trip_rounds: int = 50
    retrain: str = "through"
    clips: int = 4000
    min_raters: int = 5
    max_raters: int = 8
    database_url: str = "postgres://postgres@127.0.0.1:5432/concord_load"
    redis_url: str = "redis://127.0.0.1:6379/5"
    workers: int = 4
    threads: int = 1
    worker_concurrency: int = 2
    keep_database: bool = False
    vacuum_stand_in: bool = True
    json_path: Path | None = None
    progress_every: float = 5.0
    quiet: bool = False


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_mib": mem,
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def run(opts: Options, say: Callable[[str], None] = print) -> dict:
    """The whole bench; returns the report (also written as JSON)."""
    why = services_reachable(opts.database_url, opts.redis_url)
    if why:
        raise RuntimeError(why)
    report: dict = {"machine": machine(), "options": {}}
    report["options"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()}
    VAR.mkdir(parents=True, exist_ok=True)
    db_name = urlparse(opts.database_url).path.lstrip("/")
    media = VAR / f"media-{db_name}"
    shutil.rmtree(media, ignore_errors=True)
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": opts.database_url,
        "REDIS_URL": opts.redis_url,
        "MEDIA_ROOT": str(media),
        "CONCORD_VAR_DIR": str(VAR),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DEBUG": "0",
        # No-pause raters rate faster than the per-rater limit a listening human never
        # reaches (120/min); the limit is off for the whole bench.
        "CONCORD_RATING_RATE": "",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CONCORD_DEV", None)
    say(f"database {opts.database_url} (recreated), Redis {opts.redis_url}")
    recreate_database(opts.database_url)
    services: list[Service] = []
    stand_in: AutovacuumStandIn | None = None
    try:
        manage(env, "migrate", "--noinput")
        n_users = max([*opts.raters, *(opts.capacity_steps if opts.capacity else [])]) + 1
        spec = {
            "corpus_dir": str(VAR / f"corpus-{opts.clips}"),
            "clips": opts.clips,
            "raters": n_users,
            "min_raters": opts.min_raters,
            "max_raters": opts.max_raters,
            "seed_labels": min(60, opts.clips // 4),
        }
        say(f"setting up: {opts.clips} synthetic clips, {n_users} raters, seed ratings, features")
        setup = subprocess.run(
            [
                sys.executable,
                "-c",
                "from bench.load import project_setup_main as m; m()",
                json.dumps(spec),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if setup.returncode:
            raise RuntimeError(f"setup failed:\n{setup.stderr[-3000:]}")
        info = json.loads(setup.stdout.strip().splitlines()[-1])
        report["setup"] = {k: v for k, v in info.items() if k not in ("raters", "admin", "browser")}
        say(f"  {json.dumps(report['setup'])}")
        import psycopg
        import redis

        with psycopg.connect(opts.database_url, autocommit=True) as conn:
            conn.execute("ANALYZE")  # what autovacuum does after a bulk load
        redis.Redis.from_url(opts.redis_url).flushdb()  # the setup's task messages
        if autovacuum_on(opts.database_url):
            report["autovacuum"] = {"server": "on"}
        elif opts.vacuum_stand_in:
            stand_in = AutovacuumStandIn(opts.database_url)
            stand_in.start()
            say(
                "autovacuum is off on this server: the bench vacuums by its rule every "
                f"{AUTOVACUUM_NAPTIME_S:.0f} s (compose.yaml's naptime)"
            )
        else:
            report["autovacuum"] = {"server": "off", "stand_in": False}
        project_id = info["project"]
        rater_ids = [pk for pk, _ in info["raters"]] + [info["browser"]["id"]]
        tokens = [token for _, token in info["raters"]]
        admin_token = info["admin"][1]

        worker = start_service(
            "celery worker",
            worker_command(
                concurrency=opts.worker_concurrency,
                loglevel="INFO",
                options=("--without-gossip", "--without-mingle", "-n", f"load-{db_name}@%h"),
            ),
            env,
            VAR / f"worker-{db_name}.log",
        )
        services.append(worker)
        wait_until(
            lambda: "ready." in worker.tail(100_000), timeout=90, what="the worker", service=worker
        )
        port = free_port()
        worker_class = ["--worker-class", "gthread", "--threads", str(opts.threads)]
        access_log = VAR / f"access-{db_name}.log"
        access_log.unlink(missing_ok=True)
        gunicorn = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(opts.workers),
            *(worker_class if opts.threads > 1 else ["--worker-class", "sync"]),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            ACCESS_LOG_FORMAT,
        ]
        web = start_service("gunicorn", gunicorn, env, VAR / f"gunicorn-{db_name}.log")
        services.append(web)
        base = f"http://127.0.0.1:{port}"

        wait_until(lambda: answers_ok(f"{base}/healthz"), timeout=60, what="gunicorn", service=web)
        report["server"] = {
            "gunicorn": " ".join(gunicorn[3:]),
            "worker": f"celery worker -Q celery,learner --concurrency {opts.worker_concurrency}",
            "rating_throttle": "off (CONCORD_RATING_RATE='')",
            "client": "asyncio, HTTP/1.1 on asyncio.open_connection, one process",
        }
        acknowledged: list[dict] = []
        unknown: list[dict] = []

        # Whose CPU a level used: PostgreSQL's when it runs here (it is not niced as the
        # worker is, and serves the worker's queries too).
        cpu_owners = {"gunicorn": web.proc.pid, "celery": worker.proc.pid}
        postmaster = postmaster_pid(opts.database_url)
        if postmaster is not None:
            cpu_owners["postgres"] = postmaster
        waited = wait_for_quiet_worker(
            worker.proc.pid, opts.database_url, project_id, timeout=QUIET_WORKER_TIMEOUT_S
        )
        say(
            f"one rater's round trip on Concord, {opts.round_trip_rounds} rounds (idle server; "
            f"waited {waited:.0f} s for the worker to finish what the seed ratings started)"
        )
        # Its ratings start the worker's passes (and a retraining when one is due): the
        # same round trip with the worker stopped tells what that work costs the rater.
        single = cpu_during(
            cpu_owners,
            lambda: concord_round_trip(
                token_session(tokens[-1]), base, project_id, opts.round_trip_rounds
            ),
        )
        single["waited_for_quiet_worker_s"] = round(waited, 1)
        # Stopped while quiet, so that it holds no row lock a request would wait on.
        waited = wait_for_quiet_worker(
            worker.proc.pid, opts.database_url, project_id, timeout=QUIET_WORKER_TIMEOUT_S
        )
        # Signed in on the login page, as the rating page is.
        browser = form_session(
            base,
            "/login/",
            {"username": info["browser"]["username"], "password": info["browser"]["password"]},
        )
        with paused(worker.proc.pid):
            alone = cpu_during(
                cpu_owners,
                lambda: concord_round_trip(
                    token_session(tokens[-1]), base, project_id, opts.round_trip_rounds
                ),
            )
            # The same with a session cookie and CSRF token, as the rating page signs in.
            in_browser = cpu_during(
                cpu_owners,
                lambda: concord_round_trip(browser, base, project_id, opts.round_trip_rounds),
            )
        alone["waited_for_quiet_worker_s"] = round(waited, 1)
        for trip in (single, alone, in_browser):
            acknowledged += trip.pop("_acknowledged")
        report["round_trip"] = {
            "concord": single,
            "concord_worker_stopped": alone,
            "concord_browser_worker_stopped": in_browser,
        }

        levels = []
        plan = [(n, not opts.no_pause, opts.seconds, f"{n} raters") for n in opts.raters]
        for n, pause, seconds, label in plan:
            keeper = RetrainKeeper(base, admin_token, project_id, opts.database_url)
            if opts.retrain == "once":
                keeper.asked[retrain(base, admin_token, project_id)] += 1
            say(
                f"level {label} ({'pauses' if pause else 'no pause'}, {seconds:.0f} s); "
                f"retrain: {opts.retrain}"
            )
            with keeper if opts.retrain == "through" else contextlib.nullcontext():
                level = run_async(
                    run_level(
                        host="127.0.0.1",
                        port=port,
                        tokens=tokens[:n],
                        project_id=project_id,
                        seconds=seconds,
                        pause=pause,
                        label=label,
                        say=say,
                        progress_every=opts.progress_every,
                        database_url=opts.database_url,
                        server_pids=cpu_owners,
                        access_log=access_log,
                    )
                )
            level["retrain_asked"] = keeper.summary()
            acknowledged += level.pop("_acknowledged")
            unknown += level.pop("_unknown")
            levels.append(level)
            say(level_line(level))
        report["levels"] = levels

        if opts.capacity:
            report["capacity"] = capacity_ramp(
                opts,
                port,
                tokens,
                project_id,
                base,
                admin_token,
                acknowledged,
                unknown,
                say,
                server_pids=cpu_owners,
                access_log=access_log,
            )
        web.stop()
        worker.stop()
        services.clear()
        if stand_in is not None:
            report["autovacuum"] = {"server": "off", "stand_in": stand_in.summary()}
            stand_in = None
        runs = training_timeline(opts.database_url, project_id)
        for level in report["levels"] + report.get("capacity", {}).get("steps", []):
            level["background"] = background_work(level, runs)
        report["training_runs"] = runs
        say("checking the database")
        report["checks"] = database_checks(
            opts.database_url, project_id, rater_ids, acknowledged, unknown
        )
    finally:
        if stand_in is not None:
            stand_in.summary()
        for service in services:
            service.stop()
        if not opts.keep_database:
            with contextlib.suppress(Exception):
                drop_database(opts.database_url)
            shutil.rmtree(media, ignore_errors=True)  # the stored audio of that database

    if opts.label_studio:
        corpus = VAR / f"corpus-{opts.clips}" / "audio"
        wavs = sorted(corpus.glob("*.wav"))[: opts.round_trip_rounds + 10]
        say("one rater's round trip on Label Studio")
        report["round_trip"]["label_studio"] = label_studio_round_trip(
            venv=opts.ls_venv, wavs=wavs, rounds=opts.round_trip_rounds, say=say
        )
        ls = report["round_trip"]["label_studio"]
        if "skipped" in ls:
            say(f"  Label Studio skipped: {ls['skipped']}")
        else:
            concord = report["round_trip"]["concord"]["round_trip_ms"]["p50"]
            report["round_trip"]["ratio_concord_to_label_studio"] = round(
                concord / ls["round_trip_ms"]["p50"], 2
            )
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    path = opts.json_path or VAR / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    report["json"] = str(path)
    return report


def capacity_ramp(
    opts: Options,
    port: int,
    tokens: list[str],
    project_id: int,
    base: str,
    admin_token: str,
    acknowledged: list[dict],
    unknown: list[dict],
    say: Callable[[str], None],
    server_pids: dict[str, int],
    access_log: Path | None = None,
) -> dict:
    """No-pause raters, more at each step, until the ratings per second stop growing (under
    5 % more than the best step so far) or p95 passes `p95_stop_ms`. The knee is the step
    of the most ratings per second; the capacity within the bound is the most ratings per
    second of a step whose p95 of next and rating stayed within `p95_bound_ms`."""
    # The last level's retraining (kept running through it) ends first: a ramp that
    # began beside it measured that, not the ramp's own one retraining.
    waited = wait_for_no_live_run(opts.database_url, project_id, timeout=300.0)
    asked = retrain(base, admin_token, project_id)
    say(
        f"capacity ramp (no pause, {opts.capacity_seconds:.0f} s a step; waited {waited:.0f} s "
        f"for the last retraining); retrain asked: {asked}"
    )
    steps: list[dict] = []
    best = 0.0
    stop_reason = "ran every step"
    for n in opts.capacity_steps:
        step = run_async(
            run_level(
                host="127.0.0.1",
                port=port,
                tokens=tokens[:n],
                project_id=project_id,
                seconds=opts.capacity_seconds,
                pause=False,
                label=f"capacity {n} raters",
                say=say,
                progress_every=opts.progress_every,
                database_url=opts.database_url,
                server_pids=server_pids,
                access_log=access_log,
            )
        )
        step["retrain_asked"] = asked if not steps else ""
        acknowledged += step.pop("_acknowledged")
        unknown += step.pop("_unknown")
        steps.append(step)
        say(level_line(step))
        p95 = max(step["latency_ms"][k]["p95"] or 0 for k in ("next", "rating"))
        step["p95_ms"] = p95
        step["within_bound"] = p95 <= opts.p95_bound_ms and not step["errors"]
        if best and step["ratings_per_s"] < 1.05 * best:
            stop_reason = f"ratings per second stopped growing at {n} raters"
            break
        best = max(best, step["ratings_per_s"])
        if p95 > opts.p95_stop_ms:
            stop_reason = f"p95 {p95:.0f} ms > {opts.p95_stop_ms:.0f} ms at {n} raters"
            break
    within = [s for s in steps if s["within_bound"]]
    bounded = max(within, key=lambda s: s["ratings_per_s"]) if within else None
    knee = max(steps, key=lambda s: s["ratings_per_s"])
    return {
        "steps": steps,
        "stop": stop_reason,
        "p95_bound_ms": opts.p95_bound_ms,
        "capacity_ratings_per_s": bounded["ratings_per_s"] if bounded else None,
        "at_raters": bounded["raters"] if bounded else None,
        "knee_ratings_per_s": knee["ratings_per_s"],
        "knee_raters": knee["raters"],
        "knee_p95_ms": knee["p95_ms"],
    }


def level_line(level: dict) -> str:
    lat = level["latency_ms"]
    return (
        f"  {level['label']}: {level['ratings_per_s']} ratings/s, {level['errors']} errors, "
        f"{level['no_clip']} no-clip; p50/p95/p99 ms next "
        f"{lat['next']['p50']}/{lat['next']['p95']}/{lat['next']['p99']}, audio "
        f"{lat['audio']['p50']}/{lat['audio']['p95']}/{lat['audio']['p99']}, rating "
        f"{lat['rating']['p50']}/{lat['rating']['p95']}/{lat['rating']['p99']}; client CPU "
        f"{level['client_cpu_percent']:.0f} %, loop lag p99 {level['loop_lag_ms']['p99']} ms"
        + (
            "; in gunicorn p95 ms next/audio/rating "
            + "/".join(str(level["server_ms"][k]["p95"]) for k in KINDS)
            if level.get("server_ms")
            else ""
        )
        + (
            f"; clip table {level['clip_table']['updates']} updates "
            f"({level['clip_table']['hot_updates']} HOT), "
            f"{level['clip_table']['dead_rows_end']} dead rows at the end"
            if level.get("clip_table")
            else ""
        )
    )


def autovacuum_line(state: dict | None) -> str:
    if not state:
        return "not recorded"
    if state["server"] == "on":
        return "the server's"
    stand_in = state.get("stand_in")
    if not stand_in:
        return "off on this server, and no stand-in"
    vacuums = ", ".join(f"{k} x{v}" for k, v in stand_in["vacuums"].items()) or "none"
    analyzes = ", ".join(f"{k} x{v}" for k, v in stand_in.get("analyzes", {}).items()) or "none"
    return (
        f"off on this server; the bench vacuumed and analyzed by its rule every "
        f"{stand_in['naptime_s']:.0f} s (vacuum: {vacuums}; analyze: {analyzes}; "
        f"{stand_in['seconds']} s)"
    )


def markdown(report: dict) -> str:
    """The report as markdown tables."""
    m = report["machine"]
    out = [
        f"Date {m['date']}; {m['cores']} cores ({m['cpu']}), {m['memory_mib'] // 1024} GiB; "
        f"Python {m['python']}; load average {m['load_average_start'][0]} at the start, "
        f"{m.get('load_average_end', ['?'])[0]} at the end.",
        f"Server: `gunicorn {report['server']['gunicorn']}`; `{report['server']['worker']}`; "
        f"rating throttle {report['server']['rating_throttle']}; client: "
        f"{report['server']['client']}.",
        f"Autovacuum: {autovacuum_line(report.get('autovacuum'))}.",
        "",
        "| level | ratings/s | requests/s | errors | no clip | next p50/p95/p99 ms | "
        "audio p50/p95/p99 ms | rating p50/p95/p99 ms | training / scoring s in level | "
        "client CPU | loop lag p99 ms | load avg | sessions waiting for a lock, mean/max | "
        "CPU s gunicorn / celery (gunicorn ms per request) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = list(report.get("levels", []))
    rows += report.get("capacity", {}).get("steps", [])
    for level in rows:
        lat = level["latency_ms"]

        def trio(k: str, lat: dict = lat) -> str:
            return f"{lat[k]['p50']}/{lat[k]['p95']}/{lat[k]['p99']}"

        bg = level.get("background", {})
        out.append(
            f"| {level['label']}{'' if level['pause'] else ', no pause'} "
            f"({level['seconds']:.0f} s) | {level['ratings_per_s']} | {level['requests_per_s']} "
            f"| {level['errors']} | {level['no_clip']} | {trio('next')} | {trio('audio')} | "
            f"{trio('rating')} | {bg.get('training_s', '?')} / {bg.get('scoring_s', '?')} | "
            f"{level['client_cpu_percent']:.0f} % | {level['loop_lag_ms']['p99']} | "
            f"{level['load_average'][0]} -> {level['load_average'][1]} | "
            + (
                f"{level['lock_waits']['mean_waiting']}/{level['lock_waits']['max_waiting']} |"
                if level.get("lock_waits")
                else "- |"
            )
            + (
                f" {level['server_cpu_s']['gunicorn']} / {level['server_cpu_s']['celery']} "
                f"({level['web_cpu_ms_per_request']}) |"
                if level.get("server_cpu_s")
                else " - |"
            )
        )
    timed = [level for level in rows if level.get("server_ms")]
    if timed:
        out += [
            "",
            "Time inside gunicorn (the worker's own time per request, from its access log; "
            "the rest of a latency above is the wait for a free worker and the network):",
            "",
            "| level | next p50/p95/p99 ms | audio p50/p95/p99 ms | rating p50/p95/p99 ms | "
            "clip table: updates (HOT) / dead rows at the end |",
            "|---|---|---|---|---|",
        ]
        for level in timed:
            srv = level["server_ms"]
            churn = level.get("clip_table")
            out.append(
                f"| {level['label']} | "
                + " | ".join(f"{srv[k]['p50']}/{srv[k]['p95']}/{srv[k]['p99']}" for k in KINDS)
                + (
                    f" | {churn['updates']} ({churn['hot_updates']}) / {churn['dead_rows_end']} |"
                    if churn
                    else " | - |"
                )
            )
    out += cpu_table(rows)
    errors = Counter()
    for level in rows:
        errors.update(level["error_kinds"])
    if errors:
        out += ["", "Errors: " + ", ".join(f"{k} x{v}" for k, v in errors.most_common())]
    blockers: Counter = Counter()
    for level in rows:
        blockers.update((level.get("lock_waits") or {}).get("top_blockers", {}))
    if blockers:
        out += [
            "",
            "What the sessions waiting for a lock waited on (samples): "
            + "; ".join(f"`{q}` x{n}" for q, n in blockers.most_common(3)),
        ]
    if "capacity" in report:
        c = report["capacity"]
        out += [
            "",
            f"Capacity (no pause): the knee is {c['knee_ratings_per_s']} ratings/s at "
            f"{c['knee_raters']} raters (p95 {c['knee_p95_ms']} ms); with p95 of next and "
            f"rating <= {c['p95_bound_ms']:.0f} ms and no errors: "
            + (
                f"{c['capacity_ratings_per_s']} ratings/s at {c['at_raters']} raters"
                if c["capacity_ratings_per_s"] is not None
                else "no step stayed within the bound"
            )
            + f"; the ramp stopped: {c['stop']}.",
        ]
    rt = report.get("round_trip", {})
    if rt:
        concord = rt["concord"]["round_trip_ms"]
        pair = rt["concord"].get("next_plus_rating_ms")
        out += [
            "",
            f"One rater's round trip (next + audio + rating, sequential, idle): Concord "
            f"median {concord['p50']} ms (p95 {concord['p95']}, n {concord['n']})"
            + (
                f"; next + rating median {pair['p50']} ms (p95 {pair['p95']}); "
                + ", ".join(f"{kind} {rt['concord'][f'{kind}_ms']['p50']}" for kind in KINDS)
                + " ms (medians)."
                if pair
                else "."
            )
            + (
                f" Measured once the worker was quiet (waited "
                f"{rt['concord']['waited_for_quiet_worker_s']} s)."
                if "waited_for_quiet_worker_s" in rt["concord"]
                else ""
            ),
        ]
        for name, what in (
            ("concord", "running"),
            ("concord_worker_stopped", "stopped"),
            ("concord_browser_worker_stopped", "stopped, signed in as a browser is"),
        ):
            trip = rt.get(name, {})
            if "cpu_s" in trip:
                out.append(
                    f"With the worker {what}: next + rating median "
                    f"{trip['next_plus_rating_ms']['p50']} ms; CPU s meanwhile "
                    + ", ".join(f"{owner} {sec}" for owner, sec in trip["cpu_s"].items())
                    + "."
                )
        ls = rt.get("label_studio")
        if ls and "skipped" in ls:
            out.append(f"Label Studio: skipped ({ls['skipped']}).")
        elif ls:
            lsq = ls["round_trip_ms"]
            out.append(
                f"Label Studio {ls['version']} ({ls['server']}): median {lsq['p50']} ms "
                f"(p95 {lsq['p95']}, n {lsq['n']}); Concord / Label Studio = "
                f"{rt['ratio_concord_to_label_studio']}."
            )
    checks = report.get("checks")
    if checks:
        lease, ratings = checks["leases"], checks["ratings"]
        out += [
            "",
            f"Database checks: **{checks['verdict']}**. Leases: {lease['assignments']} on "
            f"{lease['clips_leased']} clips, at most {lease['max_raters_at_once_on_a_clip']} "
            f"raters at once on a clip, {len(lease['clips_over_wanted'])} clips over what they "
            f"want. Ratings: {ratings['acknowledged_201']} answered 201 "
            f"(+{ratings['acknowledged_200_replay']} replays answered 200), {ratings['stored']} "
            f"stored; {ratings['acknowledged_not_stored']} answered but not stored, "
            f"{ratings['201_for_the_same_rating_twice']} 201s for the same rating, "
            f"{ratings['client_tokens_stored_twice']} client tokens stored twice, "
            f"{ratings['stored_without_an_answer']} stored without an answer "
            f"({ratings['requests_without_an_answer']} requests never answered). Counters "
            f"(active_leases, n_ratings) {'agree' if checks['counters']['ok'] else 'DISAGREE'} "
            f"with the rows. Clip states after: {checks['clip_states']}.",
        ]
    runs = report.get("training_runs", [])
    if runs:
        t0 = report["levels"][0]["wall"][0] if report.get("levels") else 0
        rel = lambda x: "-" if x is None else f"{x - t0:+.0f} s"  # noqa: E731
        out += [
            "",
            "Training runs (times from the first level's start): "
            + "; ".join(
                f"run {r['run']} {r['state']}{'/' + r['outcome'] if r['outcome'] else ''} "
                f"started {rel(r['started'])}, finished {rel(r['finished'])}"
                + (f", scored {rel(r['scored'])}" if r["scored"] else "")
                for r in runs
            ),
        ]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    d = Options()
    parser.add_argument("--raters", type=ints, default=d.raters, help="levels, e.g. 50,200,500")
    parser.add_argument("--seconds", type=float, default=d.seconds, help="length of a level")
    parser.add_argument("--no-pause", action="store_true", help="raters do not listen")
    parser.add_argument("--capacity", action="store_true", help="then ramp no-pause raters")
    parser.add_argument("--capacity-steps", type=ints, default=d.capacity_steps)
    parser.add_argument("--capacity-seconds", type=float, default=d.capacity_seconds)
    parser.add_argument("--p95-bound-ms", type=float, default=d.p95_bound_ms)
    parser.add_argument("--p95-stop-ms", type=float, default=d.p95_stop_ms)
    parser.add_argument("--label-studio", action="store_true", help="compare a round trip")
    parser.add_argument("--ls-venv", type=Path, default=d.ls_venv)
    parser.add_argument("--round-trip-rounds", type=int, default=d.round_trip_rounds)
    parser.add_argument(
        "--retrain",
        choices=["through", "once"],
        default=d.retrain,
        help="keep a retrain running through each level, or ask once at its start",
    )
    parser.add_argument("--clips", type=int, default=d.clips)
    parser.add_argument("--min-raters", type=int, default=d.min_raters)
    parser.add_argument("--max-raters", type=int, default=d.max_raters)
    parser.add_argument("--database-url", default=d.database_url)
    parser.add_argument("--redis-url", default=d.redis_url)
    parser.add_argument("--workers", type=int, default=d.workers, help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=d.threads, help="gunicorn threads (>1: gthread)"
    )
    parser.add_argument("--worker-concurrency", type=int, default=d.worker_concurrency)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--no-vacuum-stand-in",
        dest="vacuum_stand_in",
        action="store_false",
        help="on a server with autovacuum off, do not vacuum by its rule",
    )
    parser.add_argument("--json", dest="json_path", type=Path, default=None)
    parser.add_argument("--progress-every", type=float, default=d.progress_every)
    return Options(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        report = run(opts, say)
    except RuntimeError as exc:
        say(f"bench.load: {exc}")
        return 2
    print(markdown(report))
    print(f"\nJSON: {report['json']}")
    return 0 if report["checks"]["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
