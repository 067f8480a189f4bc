"""The dashboard's data (issue 15, must-have 1, and the honest queue of must-have 7):
states over time, ratings per hour, label sources, agreement, ratings spent, the learning
curve with its stop signal, model versions, the queue as raters get it; roles; a query
count that does not grow with the project."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.models import (
    Clip,
    ClipState,
    Label,
    LabelSource,
    ModelVersion,
    ProjectSnapshot,
    Rating,
    RunState,
    TrainingRun,
)
from annotate.services.assignments import assignment_next
from annotate.services.snapshots import (
    project_snapshot_if_stale,
    project_snapshot_take,
    project_snapshots_take_all,
)
from tests.conftest import make_project, make_user

pytestmark = pytest.mark.django_db


def url(project_id: int) -> str:
    return f"/api/v1/projects/{project_id}/dashboard/"


def _rating(clip, user, arousal=0.1, valence=0.0):
    return Rating.objects.create(
        clip=clip,
        rater=user,
        values={"arousal": arousal, "valence": valence},
        time_spent_ms=3000,
        client_token=uuid.uuid4().hex,
    )


def _human_label(clip, target, *, n_ratings, agreement):
    return Label.objects.create(
        clip=clip,
        target=target,
        value=0.1,
        source=LabelSource.HUMAN,
        n_ratings=n_ratings,
        agreement=agreement,
    )


def _bulk_clips(project, n, *, state=ClipState.AWAITING_HUMANS, **fields):
    """Clip rows without audio (the dashboard never reads it)."""
    start = Clip.objects.count()
    return Clip.objects.bulk_create(
        Clip(
            project=project,
            external_id=f"bulk-{start + i}",
            audio=f"clips/bulk-{start + i}.wav",
            sha256=f"{start + i:064x}",
            duration_s=1.0,
            original_sample_rate=16000,
            state=state,
            **fields,
        )
        for i in range(n)
    )


@pytest.fixture
def version(project):
    run = TrainingRun.objects.create(
        project=project,
        state=RunState.SUCCEEDED,
        started_at=timezone.now() + timedelta(seconds=5),
        metrics={"dev_ccc": {"arousal": 0.61, "valence": 0.42}, "vs_active": None},
    )
    return ModelVersion.objects.create(
        project=project,
        run=run,
        name="p-dash",
        artifact="none",
        sha256="0",
        extractor_key="x",
        metrics={
            "dev_ccc": {"arousal": 0.61, "valence": 0.42},
            "confidence_rank": {"arousal": 0.35, "valence": None},
            "self_label_threshold": 0.12,
            "dev_self_label_share": 0.4,
            "dev_machine_label_mae": 0.081,
        },
        is_active=True,
        promoted_at=timezone.now(),
    )


@pytest.fixture
def scene(project, rater, other_rater, version):
    """rated: two ratings, human labels with agreement; started: one rating, awaiting a
    second, a single-rating label; machine: labelled by the version; deferred; high and
    low: awaiting, not started (low fully leased); plus two snapshots."""
    rated, started, machine, deferred, high, low = _bulk_clips(project, 6, ratings_wanted=2)
    _rating(rated, rater)
    _rating(rated, other_rater)
    _rating(started, rater)
    Clip.objects.filter(pk=rated.pk).update(state=ClipState.RATED, n_ratings=2)
    Clip.objects.filter(pk=started.pk).update(n_ratings=1, priority=0.0)
    _human_label(rated, "arousal", n_ratings=2, agreement=0.95)
    _human_label(rated, "valence", n_ratings=2, agreement=0.55)
    _human_label(started, "arousal", n_ratings=1, agreement=1.0)
    Clip.objects.filter(pk=machine.pk).update(state=ClipState.MACHINE_LABELLED, ratings_wanted=0)
    for target in ("arousal", "valence"):
        Label.objects.create(
            clip=machine,
            target=target,
            value=0.2,
            source=LabelSource.MACHINE,
            confidence=0.05,
            model_version=version.name,
        )
    Clip.objects.filter(pk=deferred.pk).update(state=ClipState.DEFERRED, ratings_wanted=0)
    Clip.objects.filter(pk=high.pk).update(priority=0.8)
    Clip.objects.filter(pk=low.pk).update(priority=0.9, active_leases=2)
    for minutes, ratings in ((30, 0), (10, 2)):
        snap = ProjectSnapshot.objects.create(
            project=project,
            states={"awaiting_humans": 6 - ratings},
            labels={"human": ratings, "machine": 0},
            ratings=ratings,
        )
        ProjectSnapshot.objects.filter(pk=snap.pk).update(
            taken_at=timezone.now() - timedelta(minutes=minutes)
        )
    return {
        "rated": rated,
        "started": started,
        "machine": machine,
        "deferred": deferred,
        "high": high,
        "low": low,
    }


def test_dashboard_payload(client_for, researcher, project, scene, version):
    response = client_for(researcher).get(url(project.pk))
    assert response.status_code == 200
    body = response.json()
    assert body["targets"] == ["arousal", "valence"]
    assert body["clips"] == 6
    assert body["states"] == {
        "new": 0,
        "awaiting_humans": 2,
        "leased": 1,
        "rated": 1,
        "machine_labelled": 1,
        "deferred": 1,
    }
    # Human ratings spent and by how many people.
    assert body["ratings"]["total"] == 3
    assert body["ratings"]["raters"] == 2
    assert body["ratings"]["hours_spent"] == pytest.approx(9 / 3600, abs=0.01)
    assert sum(hour["ratings"] for hour in body["ratings_per_hour"]) == 3
    # Live labels by source, overall and per target.
    assert body["labels"]["human"] == 3
    assert body["labels"]["machine"] == 2
    assert body["labels"]["by_target"]["arousal"] == {"human": 2, "machine": 1}
    # Agreement only of human labels with two ratings or more: the single-rating label
    # (agreement 1.0 by convention) is counted apart, not in the histogram.
    arousal = body["agreement"]["targets"]["arousal"]
    assert len(body["agreement"]["bins"]) == 11
    assert arousal["counts"][9] == 1
    assert sum(arousal["counts"]) == 1
    assert arousal["single_rating"] == 1
    assert arousal["mean"] == pytest.approx(0.95)
    assert body["agreement"]["targets"]["valence"]["counts"][5] == 1
    # Snapshots: the two recorded and, the newest being 10 minutes old, one the read took.
    assert [s["ratings"] for s in body["snapshots"]] == [0, 2, 3]
    assert body["snapshots"][-1]["states"]["leased"] == 1
    # The learning curve: one run after the three ratings, not enough to fire.
    curve = body["learning_curve"]
    assert [p["ratings"] for p in curve["points"]] == [3]
    assert curve["points"][0]["dev_ccc"] == {"arousal": 0.61, "valence": 0.42}
    assert curve["signal"]["fired"] is False
    assert curve["sentence"].startswith("The stop signal has not fired after 1 training run:")
    # Model versions, readable.
    (model,) = body["models"]
    assert model["name"] == "p-dash"
    assert model["is_active"] is True
    assert model["dev_ccc"] == {"arousal": 0.61, "valence": 0.42}
    assert model["confidence_rank"] == {"arousal": 0.35, "valence": None}
    assert model["self_label_bar"] == pytest.approx(0.12)
    assert model["machine_labelled_clips"] == 1
    assert "at most 0.120" in model["why"]
    assert "40% of its development clips" in model["why"]
    assert "0.081" in model["why"]


def test_queue_is_shown_in_the_order_raters_are_served(
    client_for, researcher, project, scene, media_root
):
    """Started clips first whatever their priority, then priority; a clip whose slots
    are all leased is not open. The order is the one assignment_next hands out."""
    queue = client_for(researcher).get(url(project.pk)).json()["queue"]
    assert [row["clip"] for row in queue["rows"]] == [scene["started"].pk, scene["high"].pk]
    first, second = queue["rows"]
    assert first["rank"] == 1
    assert first["started"] is True
    assert first["n_ratings"] == 1
    assert second["started"] is False
    assert second["priority"] == pytest.approx(0.8)
    assert queue["open"] == 2
    assert queue["fully_leased"] == 1
    newcomer = make_user("nina", "rater", [project])
    assert assignment_next(rater=newcomer, project=project).clip_id == scene["started"].pk
    another = make_user("nora", "rater", [project])
    Clip.objects.filter(pk=scene["started"].pk).update(active_leases=1)
    assert assignment_next(rater=another, project=project).clip_id == scene["high"].pk


def test_why_prefers_the_runs_own_sentence_and_explains_a_zero_threshold(
    client_for, researcher, project, version
):
    version.metrics = {**version.metrics, "self_label_why": "Bar 0.1 against human 0.2."}
    version.save()
    ModelVersion.objects.create(
        project=project,
        name="p-zero",
        artifact="none",
        sha256="0",
        extractor_key="x",
        metrics={"dev_ccc": {"arousal": 0.2}, "self_label_threshold": 0.0},
    )
    models = client_for(researcher).get(url(project.pk)).json()["models"]
    assert [m["name"] for m in models] == ["p-zero", "p-dash"]
    assert models[0]["why"].startswith("Labels no clip itself")
    assert models[0]["dev_ccc"] == {"arousal": 0.2, "valence": None}
    assert models[1]["why"] == "Bar 0.1 against human 0.2."


def test_project_maximum_caps_the_bar(client_for, researcher, project, version):
    project.self_label_max_error = 0.05
    project.save()
    (model,) = client_for(researcher).get(url(project.pk)).json()["models"]
    assert model["self_label_bar"] == pytest.approx(0.05)
    assert "capped by the project's maximum 0.050" in model["why"]


def test_empty_project_gives_empty_series(client_for, researcher, project):
    body = client_for(researcher).get(url(project.pk)).json()
    assert body["clips"] == 0
    assert body["ratings"]["total"] == 0
    assert body["ratings"]["first_at"] is None
    assert body["ratings_per_hour"] == []
    assert body["labels"] == {
        "human": 0,
        "machine": 0,
        "by_target": {"arousal": {"human": 0, "machine": 0}, "valence": {"human": 0, "machine": 0}},
    }
    assert body["agreement"]["targets"]["arousal"]["counts"] == [0] * 10
    assert body["agreement"]["targets"]["arousal"]["mean"] is None
    assert body["learning_curve"]["points"] == []
    assert body["learning_curve"]["signal"]["fired"] is False
    assert "no learning curve yet" in body["learning_curve"]["sentence"]
    assert body["models"] == []
    assert body["queue"] == {"open": 0, "fully_leased": 0, "rows": []}
    # A fresh project gets its first point on the first read.
    assert len(body["snapshots"]) == 1


def test_ratings_per_hour_fills_quiet_hours(client_for, researcher, project, rater):
    clips = _bulk_clips(project, 3)
    old = _rating(clips[0], rater)
    Rating.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    _rating(clips[1], rater)
    _rating(clips[2], rater)
    hours = client_for(researcher).get(url(project.pk)).json()["ratings_per_hour"]
    assert [h["ratings"] for h in hours] == [1, 0, 0, 2]


def test_ratings_per_hour_keeps_to_48_hours_of_the_last_rating(
    client_for, researcher, project, rater
):
    clips = _bulk_clips(project, 2)
    for clip, days in zip(clips, (30, 10), strict=True):
        rating = _rating(clip, rater)
        Rating.objects.filter(pk=rating.pk).update(created_at=timezone.now() - timedelta(days=days))
    hours = client_for(researcher).get(url(project.pk)).json()["ratings_per_hour"]
    # A quiet project: the window ends at its last rating, not at an empty now.
    assert len(hours) == 48
    assert hours[-1]["ratings"] == 1
    assert sum(h["ratings"] for h in hours) == 1


def test_stop_signal_sentence_when_it_fires(client_for, researcher, project, rater):
    clips = _bulk_clips(project, 120)
    start = timezone.now() - timedelta(days=1)
    ratings = Rating.objects.bulk_create(
        Rating(clip=clip, rater=rater, values={"arousal": 0.1, "valence": 0.0}, client_token=str(i))
        for i, clip in enumerate(clips)
    )
    for i, rating in enumerate(ratings):
        rating.created_at = start + timedelta(minutes=i)
    Rating.objects.bulk_update(ratings, ["created_at"])
    for cost in range(10, 121, 10):
        TrainingRun.objects.create(
            project=project,
            state=RunState.SUCCEEDED,
            started_at=start + timedelta(minutes=cost - 1, seconds=30),
            metrics={"dev_ccc": {"arousal": 0.7, "valence": 0.5}, "vs_active": None},
        )
    curve = client_for(researcher).get(url(project.pk)).json()["learning_curve"]
    assert len(curve["points"]) == 12
    assert curve["signal"]["fired"] is True
    assert curve["sentence"].startswith(
        f"The stop signal fired at {curve['signal']['at_cost']} human ratings:"
    )


@pytest.mark.parametrize("role", ["researcher", "admin"])
def test_staff_may_read(client_for, project, role):
    user = make_user(f"staff-{role}", role, [project])
    assert client_for(user).get(url(project.pk)).status_code == 200


def test_rater_403_outsider_404_missing_404(client_for, project, rater, outsider, researcher):
    response = client_for(rater).get(url(project.pk))
    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code"}
    assert client_for(outsider).get(url(project.pk)).status_code == 404
    missing = client_for(researcher).get(url(project.pk + 999))
    assert missing.status_code == 404
    assert set(missing.json()) == {"detail", "code"}
    assert ProjectSnapshot.objects.count() == 0  # refusals take no snapshot


def test_query_count_does_not_grow_with_the_project(client_for, researcher, project, scene):
    client = client_for(researcher)
    client.get(url(project.pk))  # takes the snapshot; the reads below do not
    with CaptureQueriesContext(connection) as small:
        assert client.get(url(project.pk)).status_code == 200

    raters = [make_user(f"crowd{j}", "rater", [project]) for j in range(5)]
    clips = _bulk_clips(project, 300, ratings_wanted=3, priority=0.5)
    Rating.objects.bulk_create(
        Rating(
            clip=clip,
            rater=user,
            values={"arousal": 0.1, "valence": 0.0},
            client_token=f"{j}-{clip.pk}",
        )
        for j, user in enumerate(raters)
        for clip in clips
    )
    Label.objects.bulk_create(
        Label(
            clip=clip,
            target=target,
            value=0.1,
            source=LabelSource.HUMAN,
            n_ratings=5,
            agreement=0.8,
        )
        for clip in clips
        for target in ("arousal", "valence")
    )
    for i in range(30):
        ModelVersion.objects.create(
            project=project, name=f"v{i}", artifact="x", sha256="0", extractor_key="x"
        )
    with CaptureQueriesContext(connection) as large:
        body = client.get(url(project.pk)).json()
    assert len(large) == len(small.captured_queries), [q["sql"] for q in large.captured_queries]
    assert len(large) <= 20, len(large)
    assert body["ratings"]["total"] == 3 + 1500
    assert len(body["queue"]["rows"]) == 20
    assert len(body["models"]) == 20 + 1  # the 20 newest and the active one


def test_snapshot_service_skips_unchanged_counts(project, scene):
    first = project_snapshot_take(project=project)
    assert first is not None
    assert first.states["rated"] == 1
    assert first.labels == {"human": 3, "machine": 2}
    assert project_snapshot_take(project=project) is None  # nothing changed
    assert project_snapshot_if_stale(project=project) is None  # one is under a minute old
    Clip.objects.filter(pk=scene["deferred"].pk).update(state=ClipState.AWAITING_HUMANS)
    assert project_snapshot_take(project=project) is not None
    ProjectSnapshot.objects.update(taken_at=timezone.now() - timedelta(hours=2))
    assert project_snapshot_take(project=project) is not None  # an hourly point anyway


def test_beat_snapshots_every_project(project):
    other = make_project("second")
    assert project_snapshots_take_all() == 2
    assert ProjectSnapshot.objects.filter(project=other).count() == 1
    entry = next(
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "annotate.tasks.project_snapshots_task"
    )
    assert entry["schedule"] <= 600
    from annotate.tasks import project_snapshots_task

    assert project_snapshots_task.name == entry["task"]


def test_page_has_charts_tables_and_export_links(project, researcher):
    client = Client()
    client.force_login(researcher)
    html = client.get(f"/projects/{project.pk}/").content.decode()
    for chart in ("chart-states", "chart-ratings", "chart-share", "chart-agreement", "chart-curve"):
        assert f'id="{chart}"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert f"/api/v1/projects/{project.pk}/export/labels/?format=csv" in html
    assert f"/api/v1/projects/{project.pk}/export/labels/?format=json" in html
    assert f"/api/v1/projects/{project.pk}/export/ratings/?format=csv&amp;pseudonymise=1" in html


def test_admin_page_links_the_operations_page_and_raters_get_403(project, admin, rater):
    client = Client()
    client.force_login(admin)
    html = client.get(f"/projects/{project.pk}/").content.decode()
    # Retraining lives on the operations page now: the models card links there.
    assert f'href="/projects/{project.pk}/operations/">Retrain and tune' in html
    assert 'id="retrain"' not in html
    client.force_login(rater)
    assert client.get(f"/projects/{project.pk}/").status_code == 403
