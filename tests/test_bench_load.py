"""bench.load end to end, tiny: 3 raters for a few seconds and a one-step capacity ramp
against a real gunicorn, Celery worker, PostgreSQL and Redis (no Label Studio); the
database checks must pass and the report must carry its figures."""

import os
from urllib.parse import urlparse

import pytest

from bench.load import (
    KINDS,
    AutovacuumStandIn,
    Options,
    drop_database,
    intervals_max_overlap,
    markdown,
    paused,
    process_tree,
    run,
    services_reachable,
)


def _service_urls() -> tuple[str, str]:
    """A throwaway database and Redis db 6 on the servers the test suite uses."""
    database = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"))
    if not database.scheme.startswith("postgres"):
        database = urlparse("postgres://postgres@127.0.0.1:5432/test")
    redis = urlparse(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return (
        database._replace(path="/concord_load_test").geturl(),
        redis._replace(path="/6").geturl(),
    )


def test_paused_stops_a_process_tree_and_continues_it():
    import subprocess
    import sys
    import time
    from pathlib import Path

    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess; subprocess.run(['sleep', '30'])"]
    )
    try:
        deadline = time.monotonic() + 10
        while len(process_tree(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = process_tree(parent.pid)
        assert tree[0] == parent.pid
        assert len(tree) == 2

        def state(pid: int) -> str:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

        def states_within(seconds: float, wanted) -> set[str]:
            deadline = time.monotonic() + seconds  # a signal is delivered, not instant
            while not wanted(states := {state(pid) for pid in tree}):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            return states

        with paused(parent.pid):
            assert states_within(5, lambda s: s == {"T"}) == {"T"}
        assert "T" not in states_within(5, lambda s: "T" not in s)
    finally:
        for pid in reversed(process_tree(parent.pid)):
            os.kill(pid, 9)
        parent.wait()


def test_overlap_counts_intervals_covering_one_instant():
    assert intervals_max_overlap([]) == 0
    assert intervals_max_overlap([(0, 2), (1, 3), (2, 4)]) == 2  # [0,2) ends as [2,4) starts
    assert intervals_max_overlap([(0, 10), (1, 2), (1.5, 3), (1.8, 1.9)]) == 4


@pytest.mark.integration
def test_the_autovacuum_stand_in_analyzes_a_table_that_changed(monkeypatch):
    """Autovacuum's analyze rule too: a table loaded after the last ANALYZE is analyzed at
    the next look, so the run's queries are not planned on the setup's statistics."""
    import time

    import psycopg

    import bench.load

    load_url, redis_url = _service_urls()
    why = services_reachable(load_url, redis_url)
    if why:
        pytest.skip(why)
    database_url = urlparse(load_url)._replace(path="/concord_stand_in_test").geturl()
    drop_database(database_url)
    with psycopg.connect(load_url.replace("/concord_load_test", "/postgres"), autocommit=True) as c:
        c.execute("CREATE DATABASE concord_stand_in_test")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE stand_in_probe (x int)")
        conn.execute("INSERT INTO stand_in_probe SELECT generate_series(1, 5000)")
    monkeypatch.setattr(bench.load, "AUTOVACUUM_NAPTIME_S", 0.2)
    stand_in = AutovacuumStandIn(database_url)
    stand_in.start()
    try:
        deadline = time.monotonic() + 10
        while not stand_in.analyzes and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        summary = stand_in.summary()
        with psycopg.connect(database_url, autocommit=True) as conn:
            analyzed = conn.execute(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname = 'stand_in_probe'"
            ).fetchone()
        drop_database(database_url)
    assert summary["analyzes"].get("stand_in_probe") == 1
    assert analyzed == (True,)


@pytest.mark.integration
def test_tiny_load_run_passes_its_database_checks(tmp_path):
    database_url, redis_url = _service_urls()
    why = services_reachable(database_url, redis_url)
    if why:
        pytest.skip(f"bench.load needs PostgreSQL and Redis: {why}")
    lines: list[str] = []
    report = run(
        Options(
            raters=[3],
            seconds=6.0,
            capacity=True,
            capacity_steps=[2],
            capacity_seconds=4.0,
            clips=60,
            min_raters=3,
            max_raters=4,
            round_trip_rounds=5,
            database_url=database_url,
            redis_url=redis_url,
            workers=2,
            worker_concurrency=1,
            json_path=tmp_path / "report.json",
            progress_every=2.0,
        ),
        say=lines.append,
    )

    checks = report["checks"]
    assert checks["verdict"] == "PASS", checks
    assert checks["ratings"]["acknowledged_201"] > 0
    assert checks["ratings"]["stored"] == (
        checks["ratings"]["acknowledged_201"] + checks["ratings"]["stored_without_an_answer"]
    )
    (level,) = report["levels"]
    assert level["raters"] == 3
    assert level["errors"] == 0, level["error_kinds"]
    assert level["ratings"] > 0
    for kind in KINDS:
        figures = level["latency_ms"][kind]
        assert figures["n"] > 0
        assert 0 < figures["p50"] <= figures["p95"] <= figures["p99"]
        inside = level["server_ms"][kind]  # gunicorn's own time, from its access log
        assert inside["n"] > 0
        assert 0 < inside["p50"] <= figures["p99"]
    assert "202" in level["retrain_asked"]  # kept a retrain running: asked at least once
    assert "background" in level
    assert level["server_cpu_s"]["gunicorn"] > 0
    assert level["server_cpu_s"]["postgres"] > 0  # the postmaster runs on this machine
    machine = level["machine_cpu_s"]
    assert machine["busy"] > 0
    assert min(machine["idle"], machine["steal"]) >= 0
    owned = sum(level["server_cpu_s"].values()) + level["client_cpu_s"]
    assert owned <= machine["busy"] + 1.0  # one clock tick of rounding per process at most
    assert level["lock_waits"]["samples"] > 0
    assert report["capacity"]["knee_ratings_per_s"] > 0
    single = report["round_trip"]["concord"]
    assert single["round_trip_ms"]["n"] == 5
    assert 0 < single["waited_for_quiet_worker_s"] < 180  # timed once the worker was quiet
    for kind in (*KINDS, "next_plus_rating"):
        assert single[f"{kind}_ms"]["n"] == 5
    assert single["next_ms"]["p50"] < single["next_plus_rating_ms"]["p50"]
    assert single["next_plus_rating_ms"]["max"] <= single["round_trip_ms"]["max"]
    stopped = report["round_trip"]["concord_worker_stopped"]
    assert stopped["next_plus_rating_ms"]["n"] == 5
    assert stopped["cpu_s"]["celery"] == 0  # stopped: not one tick
    assert stopped["cpu_s"]["gunicorn"] > 0
    in_browser = report["round_trip"]["concord_browser_worker_stopped"]  # a session cookie
    assert in_browser["next_plus_rating_ms"]["n"] == 5
    assert in_browser["cpu_s"]["celery"] == 0
    assert report["training_runs"]
    assert (tmp_path / "report.json").is_file()
    assert any("3 raters:" in line for line in lines)  # the progress display
    text = markdown(report)
    assert "Database checks: **PASS**" in text
    assert "| 3 raters (6 s) |" in text
    assert "Time inside gunicorn" in text
    assert "Where the CPU went" in text
    assert "next + rating median" in text
    assert "With the worker stopped: next + rating median" in text
    assert "signed in as a browser is: next + rating median" in text
