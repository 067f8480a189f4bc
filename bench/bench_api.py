"""Rating API latency on a real server: next + rating round trip, and parallel raters.

    python -m bench.bench_api [--database-url postgres://postgres@127.0.0.1:5432/concord_bench]
                              [--rounds 200] [--raters 16] [--workers 4]

Creates (or recreates) the benchmark database, migrates it, loads a project of short
synthetic clips, starts gunicorn on a free local port, and measures:
1. one rater: the round trip of `POST next` + `POST rating`, `--rounds` times;
2. `--raters` raters in parallel threads, each looping next + rating, p50/p99 per call.
Prints a markdown table and the machine it ran on.
"""

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


SETUP = """
import hashlib, io, json, sys
import numpy as np, soundfile as sf
from django.core.files.base import ContentFile
from rest_framework.authtoken.models import Token
from annotate.models import Clip, Project, Target, RaterProfile
from django.contrib.auth.models import User
n_clips, n_raters = int(sys.argv[1]), int(sys.argv[2])
project = Project.objects.create(name="bench", min_raters=3, max_raters=3)
for i, name in enumerate(("arousal", "valence")):
    Target.objects.create(project=project, name=name, position=i)
for i in range(n_clips):
    buf = io.BytesIO()
    sf.write(buf, 0.1 * np.sin(np.arange(8000) * (0.05 + i * 1e-5)), 16000, format="WAV")
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    clip = Clip(project=project, sha256=sha, duration_s=0.5, original_sample_rate=16000,
                ratings_wanted=3)
    clip.audio.save(sha + ".wav", ContentFile(data), save=False)
    clip.save()
tokens = []
for i in range(n_raters):
    user = User.objects.create_user(f"bench{i}", password="x")
    RaterProfile.objects.create(user=user, role="rater")
    project.members.add(user)
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps({"project": project.pk, "tokens": tokens}))
"""


def rate_once(session: requests.Session, base: str, project_id: int) -> tuple[float, float] | None:
    started = time.perf_counter()
    lease = session.post(f"{base}/api/v1/projects/{project_id}/next/", timeout=30)
    next_s = time.perf_counter() - started
    if lease.status_code == 204:
        return None
    lease.raise_for_status()
    assignment = lease.json()["assignment"]["id"]
    started = time.perf_counter()
    rating = session.post(
        f"{base}/api/v1/assignments/{assignment}/rating/",
        json={"values": {"arousal": 0.1, "valence": -0.2}, "client_token": uuid.uuid4().hex},
        timeout=30,
    )
    rating.raise_for_status()
    return next_s, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/concord_bench"
    )
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--raters", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the parallel run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    args = parser.parse_args()

    var = ROOT / "var" / "bench-api"
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "MEDIA_ROOT": str(var / "media"),
        "CONCORD_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("REDIS_URL", None)
    recreate_database(args.database_url)
    manage(env, "migrate", "--noinput")
    import json

    setup = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup()\n" + SETUP,
            str(args.rounds + 400 * args.raters),
            str(args.raters + 1),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(setup.stdout.strip().splitlines()[-1])
    import psycopg

    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # what autovacuum does after a bulk load
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        # 1. One rater, sequential round trips.
        session = requests.Session()
        session.headers["Authorization"] = f"Token {info['tokens'][-1]}"
        for _ in range(10):  # warm-up
            rate_once(session, base, info["project"])
        round_trips = []
        for _ in range(args.rounds):
            result = rate_once(session, base, info["project"])
            assert result is not None, "the benchmark ran out of clips"
            round_trips.append(sum(result))
        # 2. Parallel raters.
        next_times: list[float] = []
        rating_times: list[float] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def rater_loop(token: str) -> None:
            rater_session = requests.Session()
            rater_session.headers["Authorization"] = f"Token {token}"
            while time.monotonic() < stop_at:
                result = rate_once(rater_session, base, info["project"])
                if result is None:
                    return
                with lock:
                    next_times.append(result[0])
                    rating_times.append(result[1])

        threads = [threading.Thread(target=rater_loop, args=(t,)) for t in info["tokens"][:-1]]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    ms = 1000.0
    print(
        f"Machine: {os.cpu_count()} cores, {cpu}; "
        f"PostgreSQL at {urlparse(args.database_url).hostname}; "
        f"gunicorn {args.workers} workers; client on the same machine."
    )
    print()
    print("| measure | median ms | p95 ms | p99 ms | n |")
    print("|---|---|---|---|---|")
    print(
        f"| one rater: next + rating round trip | {statistics.median(round_trips) * ms:.1f} | "
        f"{percentile(round_trips, 95) * ms:.1f} | {percentile(round_trips, 99) * ms:.1f} | "
        f"{len(round_trips)} |"
    )
    for label, values in (
        (f"{args.raters} raters: next", next_times),
        (f"{args.raters} raters: rating", rating_times),
    ):
        print(
            f"| {label} | {statistics.median(values) * ms:.1f} | "
            f"{percentile(values, 95) * ms:.1f} | {percentile(values, 99) * ms:.1f} | "
            f"{len(values)} |"
        )
    print()
    print(
        f"Parallel throughput: {len(next_times) / elapsed:.0f} ratings/s "
        f"({2 * len(next_times) / elapsed:.0f} requests/s) over {elapsed:.1f} s."
    )


if __name__ == "__main__":
    main()
