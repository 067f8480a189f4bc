"""Admin retraining (issue 15, must-have 5): too few labels refused up front with a
sentence, cancel (queued at once, running at its next checkpoint, no partial artifact),
a run that changes nothing recorded as such, run history."""

import pytest
from django.test import Client

from annotate.models import (
    AuditEntry,
    Label,
    ModelVersion,
    RunOutcome,
    RunState,
    TrainingRun,
)
from annotate.services import training as training_service
from annotate.services.training import training_run_execute, training_run_start
from tests.annotate.test_training_service import trained_project  # noqa: F401 (fixture)
from tests.conftest import make_clips, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(trained_project):  # noqa: F811
    return make_user("ada", "admin")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_too_few_labels_is_refused_up_front_with_a_sentence(project, media_root, admin):
    clips = make_clips(project, 12)
    for clip in clips[:3]:
        Label.objects.create(clip=clip, target="arousal", value=0.1, source="human", n_ratings=2)
    response = _client(admin).post(f"/api/v1/projects/{project.pk}/retrain/")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "too_few_labels"
    assert "more ratings" in body["detail"]
    assert "need 10" in body["detail"]
    assert not TrainingRun.objects.filter(project=project).exists()


def test_auto_retrain_with_too_few_labels_starts_nothing(project, media_root):
    project.retrain_after_labels = 1
    project.save()
    assert training_service.training_run_auto_start(project_id=project.pk) is None


def test_cancel_a_queued_run_at_once(trained_project, ada):  # noqa: F811
    run = training_run_start(project=trained_project)
    response = _client(ada).post(f"/api/v1/training-runs/{run.pk}/cancel/")
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == RunState.CANCELLED
    run.refresh_from_db()
    assert run.state == RunState.CANCELLED
    assert run.finished_at is not None
    entry = AuditEntry.objects.get(action="training_run.cancel")
    assert entry.actor == ada
    assert entry.before == {"state": "queued"}
    # A cancelled run is not live: the next retrain may start.
    assert training_run_start(project=trained_project).state == RunState.QUEUED


def test_cancel_a_running_run_stops_it_at_a_checkpoint(trained_project, ada, monkeypatch):  # noqa: F811
    run = training_run_start(project=trained_project)
    real_train = training_service.candidate_train

    def train_then_cancel(*, project, progress):
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        return real_train(project=project, progress=progress)

    monkeypatch.setattr(training_service, "candidate_train", train_then_cancel)
    run = training_run_execute(run_id=run.pk)
    assert run.state == RunState.CANCELLED
    assert not ModelVersion.objects.filter(project=trained_project).exists()
    artifact = training_service._artifact_path(trained_project, run.pk)
    assert not artifact.exists()  # no partial artifact


def test_cancel_of_a_finished_run_is_409(trained_project, ada):  # noqa: F811
    run = training_run_execute(run_id=training_run_start(project=trained_project).pk)
    assert run.state == RunState.SUCCEEDED
    response = _client(ada).post(f"/api/v1/training-runs/{run.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "run_finished"


def test_cancel_roles(trained_project, ada):  # noqa: F811
    run = training_run_start(project=trained_project)
    researcher = make_user("rosa", "researcher", [trained_project])
    rater = make_user("rita", "rater", [trained_project])
    outsider = make_user("oscar", "researcher")
    url = f"/api/v1/training-runs/{run.pk}/cancel/"
    assert _client(researcher).post(url).status_code == 403
    assert _client(rater).post(url).status_code in (403, 404)
    assert _client(outsider).post(url).status_code == 404
    assert _client(ada).post("/api/v1/training-runs/99999/cancel/").status_code == 404
    run.refresh_from_db()
    assert run.state == RunState.QUEUED


def test_a_run_that_changes_nothing_adds_no_version(trained_project, ada):  # noqa: F811
    first = training_run_execute(run_id=training_run_start(project=trained_project).pk)
    assert first.state == RunState.SUCCEEDED
    assert first.outcome == RunOutcome.PROMOTED
    second = training_run_execute(run_id=training_run_start(project=trained_project).pk)
    assert second.state == RunState.SUCCEEDED
    assert second.outcome == RunOutcome.UNCHANGED
    assert second.metrics["unchanged_since_run"] == first.pk
    assert ModelVersion.objects.filter(project=trained_project).count() == 1
    # A new human label is a change: the next run trains.
    clip = trained_project.clips.filter(labels__isnull=True).first()
    Label.objects.create(clip=clip, target="arousal", value=0.3, source="human", n_ratings=2)
    third = training_run_execute(run_id=training_run_start(project=trained_project).pk)
    assert third.outcome in (RunOutcome.PROMOTED, RunOutcome.NOT_BETTER)
    assert ModelVersion.objects.filter(project=trained_project).count() == 2


def test_run_history_says_who_and_what_came_of_it(trained_project, ada):  # noqa: F811
    _client(ada).post(f"/api/v1/projects/{trained_project.pk}/retrain/")
    training_run_execute(run_id=TrainingRun.objects.get(project=trained_project).pk)
    body = _client(ada).get(f"/api/v1/projects/{trained_project.pk}/training-runs/").json()
    runs = body["results"] if isinstance(body, dict) else body
    assert runs[0]["requested_by"] == "ada"
    assert runs[0]["outcome"] == RunOutcome.PROMOTED
    assert runs[0]["cancel_requested"] is False
