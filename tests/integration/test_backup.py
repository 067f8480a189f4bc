"""Backups restore (must-have 7): a pg_dump of the whole database restored into a fresh
database, and one project's backup_project folder restored into a fresh, migrated
database, have every rating, label and clip with identical values.

Needs PostgreSQL and its client tools (pg_dump, pg_restore); each fresh database has a
unique name and is dropped at the end.
"""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from annotate.models import (
    Clip,
    ClipFeatures,
    Label,
    ModelVersion,
    Project,
    Rating,
    RunOutcome,
    RunState,
    TrainingRun,
)
from tests.conftest import make_clips, make_project, make_user
from tests.integration.conftest import ROOT, _require_services, database_url

pytestmark = pytest.mark.integration

USER_COLUMNS = {"rater_id", "actor_id", "requested_by_id", "blocked_by_id", "created_by_id"}
PROJECT_TABLES = [
    "annotate_project",
    "annotate_target",
    "annotate_clip",
    "annotate_referencelabel",
    "annotate_clipfeatures",
    "annotate_assignment",
    "annotate_rating",
    "annotate_label",
    "annotate_raternoise",
    "annotate_trainingrun",
    "annotate_modelversion",
    "annotate_auditentry",
]


def pg_tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        pytest.skip(f"{name} (PostgreSQL client tools) is not installed")
    return found


def url_of(name: str) -> str:
    return database_url().rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def fresh_database(transactional_db):
    """A new, empty database with a unique name, dropped at the end."""
    _require_services()
    name = f"restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url_of("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(url_of("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def campaign(media_root: Path) -> Project:
    """A project with clips, reference labels, two raters' ratings through the API (which
    settle human labels), a machine label, a training run and its model bundle."""
    from rest_framework.test import APIClient

    project = make_project("backed-up", min_raters=2, max_raters=2, retrain_after_labels=0)
    clips = make_clips(project, 6)
    for i, clip in enumerate(clips):
        clip.reference_labels.create(target="arousal", value=0.25)
        vector = np.linspace(-1, 1, 16, dtype="<f4") * (i + 1)
        ClipFeatures.objects.create(
            clip=clip, extractor_key="test", values=vector.tobytes(), n_features=16
        )
    for name in ("rita", "otto"):
        client = APIClient()
        client.force_authenticate(make_user(name, "rater", [project]))
        for i in range(4):
            answer = client.post(f"/api/v1/projects/{project.pk}/next/")
            if answer.status_code == 204:
                break
            lease = answer.json()
            response = client.post(
                f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
                {
                    "values": {"arousal": 0.1 * i - 0.15, "valence": 0.3 - 0.05 * i},
                    "client_token": f"token-{name}-{i}",
                    "time_spent_ms": 1500 + i,
                },
                format="json",
            )
            assert response.status_code == 201, response.content
    researcher = make_user("rosa", "researcher", [project])
    run = TrainingRun.objects.create(
        project=project,
        requested_by=researcher,
        state=RunState.SUCCEEDED,
        outcome=RunOutcome.PROMOTED,
        progress=1.0,
        metrics={"dev_ccc": {"arousal": 0.61}},
    )
    artifact = f"models/{project.pk}/run-{run.pk}.bundle"
    (media_root / artifact).parent.mkdir(parents=True, exist_ok=True)
    (media_root / artifact).write_bytes(b"model bundle " * 100)
    version = ModelVersion.objects.create(
        project=project,
        run=run,
        name=f"p{project.pk}-run{run.pk}",
        artifact=artifact,
        sha256="0" * 64,
        extractor_key="test",
        is_active=True,
    )
    # A human label revoked and a machine label in its place.
    Label.objects.filter(clip=clips[0], target="valence").update(
        revoked_at=timezone.now(), revoked_reason="test"
    )
    Label.objects.create(
        clip=clips[0],
        target="valence",
        value=-0.42,
        source="machine",
        confidence=0.12,
        model_version=version.name,
    )
    assert Rating.objects.filter(clip__project=project).count() >= 6
    assert Label.objects.filter(clip__project=project, source="human").exists()
    return project


def _users(conn: psycopg.Connection) -> dict[int, str]:
    return dict(conn.execute("SELECT id, username FROM auth_user").fetchall())


def table_rows(conn: psycopg.Connection, table: str, where: str = "") -> list[tuple]:
    """Every row of a table in id order, accounts named by username (ids of accounts may
    differ after a project restore), other values as stored."""
    users = _users(conn)
    cursor = conn.execute(f"SELECT * FROM {table} {where} ORDER BY 1")
    columns = [column.name for column in cursor.description]
    return [
        tuple(
            users.get(value) if column in USER_COLUMNS and value is not None else value
            for column, value in zip(columns, row, strict=True)
        )
        for row in cursor.fetchall()
    ]


def public_tables(conn: psycopg.Connection) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    ]


def test_pg_dump_of_the_whole_database_restores_every_row(fresh_database, media_root, tmp_path):
    project = campaign(media_root)
    source_name = connection.settings_dict["NAME"]
    dump = tmp_path / "concord.dump"
    subprocess.run(
        [pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={dump}",
         f"--dbname={database_url()}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert dump.stat().st_size > 0
    subprocess.run(
        [pg_tool("pg_restore"), "--no-owner", "--exit-on-error",
         f"--dbname={url_of(fresh_database)}", str(dump)],
        check=True,
        capture_output=True,
    )  # fmt: skip

    with (
        psycopg.connect(url_of(source_name)) as source,
        psycopg.connect(url_of(fresh_database)) as restored,
    ):
        tables = public_tables(source)
        assert public_tables(restored) == tables
        assert {"annotate_rating", "annotate_label", "annotate_clip"} <= set(tables)
        for table in tables:
            assert table_rows(restored, table) == table_rows(source, table), table
        counts = {
            table: restored.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("annotate_rating", "annotate_label", "annotate_clip")
        }
    assert counts == {
        "annotate_rating": Rating.objects.count(),
        "annotate_label": Label.objects.count(),
        "annotate_clip": Clip.objects.filter(project=project).count(),
    }


def manage(*args: str, database: str, media: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": url_of(database),
        "MEDIA_ROOT": str(media),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    env.pop("REDIS_URL", None)  # nothing is sent anywhere during a restore
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_backup_project_restores_into_a_fresh_database(fresh_database, media_root, tmp_path):
    project = campaign(media_root)
    make_clips(make_project("another-study"), 2, start_freq=900.0)  # not part of the backup
    folder = tmp_path / "backup"
    call_command("backup_project", project.name, "--out", str(folder))
    assert (folder / "manifest.json").is_file()

    restored_media = tmp_path / "restored-media"
    migrated = manage("migrate", "--noinput", database=fresh_database, media=restored_media)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    result = manage("restore_project", str(folder), database=fresh_database, media=restored_media)
    assert result.returncode == 0, result.stderr[-3000:]

    source_name = connection.settings_dict["NAME"]
    with (
        psycopg.connect(url_of(source_name)) as source,
        psycopg.connect(url_of(fresh_database)) as restored,
    ):
        for table in PROJECT_TABLES:
            if table == "annotate_project":
                where = f"WHERE id = {project.pk}"
            elif table in ("annotate_target", "annotate_clip", "annotate_assignment",
                           "annotate_trainingrun", "annotate_modelversion",
                           "annotate_auditentry"):  # fmt: skip
                where = f"WHERE project_id = {project.pk}"
            elif table == "annotate_raternoise":
                where = (
                    "WHERE target_id IN (SELECT id FROM annotate_target "
                    f"WHERE project_id = {project.pk})"
                )
            else:
                clips = f"SELECT id FROM annotate_clip WHERE project_id = {project.pk}"
                where = f"WHERE clip_id IN ({clips})"
            rows = table_rows(source, table, where)
            assert table_rows(restored, table, where) == rows, table
        assert table_rows(restored, "annotate_rating")  # the ratings are there
        assert (
            len(table_rows(restored, "annotate_rating"))
            == project.clips.aggregate(n=Count("ratings"))["n"]
        )
        assert restored.execute("SELECT count(*) FROM annotate_project").fetchone()[0] == 1
        members = restored.execute(
            "SELECT u.username FROM annotate_project_members m JOIN auth_user u "
            "ON u.id = m.user_id ORDER BY u.username"
        ).fetchall()
        assert [name for (name,) in members] == ["otto", "rita", "rosa"]
        for table in ("annotate_clip", "annotate_rating", "annotate_label"):
            # The id sequences moved past the restored ids: the next row goes in.
            next_id, top = restored.execute(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')), max(id) FROM {table}"
            ).fetchone()
            assert next_id > top, table
        password = "SELECT password FROM auth_user WHERE username = 'rita'"
        assert restored.execute(password).fetchone() == source.execute(password).fetchone()

    # The audio and the model bundle, byte for byte.
    for clip in Clip.objects.filter(project=project):
        assert (restored_media / clip.audio.name).read_bytes() == clip.audio.read()
    version = ModelVersion.objects.get(project=project)
    restored_bundle = (restored_media / version.artifact).read_bytes()
    assert restored_bundle == (media_root / version.artifact).read_bytes()

    # Restoring it again is refused with nothing written.
    again = manage("restore_project", str(folder), database=fresh_database, media=restored_media)
    assert again.returncode != 0
    assert "already exists" in again.stderr
