"""Every Celery task run twice leaves the same state as run once (a redelivered message,
a retry, beat and an event sending the same work), and transient database and broker
errors in tasks are retried with backoff (issue 16, must-have 3).

Tasks run in-process (`task.apply()`, as a worker would run them) inside the test's
transaction, so the work they send on commit is not sent: each task is compared alone.
"""

import uuid
from datetime import timedelta
from unittest import mock

import numpy as np
import pytest
from celery import current_app
from celery.app import autoretry
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from annotate import tasks
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Clip,
    ClipFeatures,
    Label,
    ModelVersion,
    ProjectSnapshot,
    RaterNoise,
    RaterProfile,
    Rating,
    RunState,
    Target,
    TrainingRun,
    UserSession,
)
from annotate.services.assignments import assignment_next
from annotate.services.ratings import rating_submit
from tests.conftest import featured_project, make_clips, make_project, make_user

pytestmark = pytest.mark.django_db


def snapshot() -> dict:
    """The rows tasks change (timestamps that only say when a task last ran left out)."""
    return {
        "clips": list(
            Clip.objects.order_by("id").values_list(
                "id", "state", "priority", "ratings_wanted", "n_ratings", "active_leases"
            )
        ),
        "features": list(
            ClipFeatures.objects.order_by("clip_id", "extractor_key").values_list(
                "clip_id", "extractor_key", "values"
            )
        ),
        "labels": list(
            Label.objects.order_by("id").values_list(
                "id",
                "clip_id",
                "target",
                "value",
                "source",
                "n_ratings",
                "agreement",
                "model_version",
                "confidence",
                "revoked_at",
            )
        ),
        "ratings": list(Rating.objects.order_by("id").values_list("id", "clip_id", "values")),
        "assignments": list(Assignment.objects.order_by("id").values_list("id", "status")),
        "versions": list(
            ModelVersion.objects.order_by("id").values_list(
                "id", "run_id", "is_active", "sha256", "artifact"
            )
        ),
        "runs": list(
            TrainingRun.objects.order_by("id").values_list(
                "id", "state", "outcome", "progress", "error", "finished_at"
            )
        ),
        "raters": list(
            RaterProfile.objects.order_by("user_id").values_list(
                "user_id", "reliability", "reliability_n"
            )
        ),
        "noise": list(
            Target.objects.order_by("id").values_list("id", "rater_noise", "rater_noise_clips")
        ),
        "rater_noise": sorted(
            RaterNoise.objects.values_list("target_id", "rater_id", "noise", "n_clips")
        ),
        "snapshots": list(
            ProjectSnapshot.objects.order_by("id").values_list("id", "states", "labels", "ratings")
        ),
    }


@pytest.fixture
def campaign(media_root):
    """A project under way: clips with features, human labels that follow them, ratings
    by four raters (one careless), an overdue lease, a queued training run; and a second
    project whose clips have no features yet and whose training run lost its worker."""
    project, clips, X = featured_project(
        n_clips=44, n_labelled=32, seed=1, min_raters=2, max_raters=3, human_budget_per_round=5
    )
    raters = [make_user(f"r{i}", "rater", [project]) for i in range(4)]
    for _ in range(3):
        for i, rater in enumerate(raters):
            lease = assignment_next(rater=rater, project=project)
            assert lease is not None
            value = float(np.tanh(X[clips.index(lease.clip), 0])) if lease.clip in clips else 0.0
            value = -value if i == 3 else value + 0.05 * i
            rating_submit(
                rater=rater,
                assignment=lease,
                values={"arousal": value, "valence": value},
                client_token=uuid.uuid4().hex,
            )
    late = make_user("late", "rater", [project])
    lease = assignment_next(rater=late, project=project)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    other = make_project("other")
    unfeatured = make_clips(other, 4, start_freq=500.0)
    lost = TrainingRun.objects.create(
        project=other,
        state=RunState.RUNNING,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    return {
        "project": project,
        "unfeatured": [clip.pk for clip in unfeatured],
        "run": TrainingRun.objects.create(project=project),
        "lost_run": lost,
    }


def test_every_task_run_twice_leaves_the_same_state_as_once(campaign):
    project = campaign["project"]
    for key, days in (("expired", -1), ("live", 1)):
        UserSession.objects.create(
            session_key=key, session_data="", expire_date=timezone.now() + timedelta(days=days)
        )
    cases = [
        (tasks.assignments_expire_task, ()),
        (tasks.project_after_ratings_task, (project.pk, timezone.now().isoformat())),
        (tasks.rater_reliability_refresh_task, ()),
        (tasks.learner_features_extract_task, (campaign["unfeatured"],)),
        (tasks.learner_training_run_task, (campaign["run"].pk,)),
        (tasks.learner_project_score_task, (project.pk,)),
        (tasks.training_runs_reap_task, ()),
        (tasks.project_snapshots_task, ()),
        (tasks.sessions_clear_expired_task, ()),
    ]
    registered = {name for name in current_app.tasks if name.startswith("annotate.tasks.")}
    assert registered == {task.name for task, _ in cases}, (
        "a task without an idempotence case: add it here"
    )
    for task, args in cases:
        first = task.apply(args=args, throw=True)
        assert first.successful(), task.name
        once = snapshot()
        task.apply(args=args, throw=True)
        assert snapshot() == once, f"{task.name} run twice changed the state"
    # The cases did real work.
    assert Assignment.objects.filter(status=AssignmentStatus.EXPIRED).count() == 1
    assert ClipFeatures.objects.filter(clip_id__in=campaign["unfeatured"]).count() == 4
    assert TrainingRun.objects.get(pk=campaign["run"].pk).state == RunState.SUCCEEDED
    assert ModelVersion.objects.filter(project=project).count() == 1
    assert ModelVersion.objects.get(project=project).scored_at is not None
    assert TrainingRun.objects.get(pk=campaign["lost_run"].pk).state == RunState.FAILED
    assert RaterProfile.objects.filter(reliability_n__gt=0).exists()
    assert ProjectSnapshot.objects.count() == 2
    assert list(UserSession.objects.values_list("session_key", flat=True)) == ["live"]


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_transient_database_error_is_retried_with_backoff(error):
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise error("server closed the connection unexpectedly")
        return 3

    backoff = mock.Mock(wraps=autoretry.get_exponential_backoff_interval)
    with (
        mock.patch("annotate.services.assignments.assignments_expire", flaky),
        mock.patch("celery.app.autoretry.get_exponential_backoff_interval", backoff),
    ):
        result = tasks.assignments_expire_task.apply()
    assert result.successful()
    assert result.result == 3
    assert len(calls) == 2  # failed once, retried, succeeded
    assert backoff.call_args.kwargs == {
        "factor": 2,
        "retries": 0,
        "maximum": 300,
        "full_jitter": True,
    }


def test_a_broker_error_is_retried_and_a_lasting_one_gives_up(project):
    from kombu.exceptions import OperationalError as BrokerError

    calls = []

    def down(**kwargs):
        calls.append(kwargs)
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with mock.patch("annotate.services.catch_up.project_after_ratings", down):
        result = tasks.project_after_ratings_task.apply(args=(project.pk,))
    assert result.failed()
    assert isinstance(result.result, BrokerError)
    assert len(calls) == tasks.RETRY["max_retries"] + 1


def test_other_errors_are_not_retried():
    calls = []

    def broken(**kwargs):
        calls.append(kwargs)
        raise ValueError("a bug")

    with mock.patch("annotate.services.assignments.assignments_expire", broken):
        result = tasks.assignments_expire_task.apply()
    assert result.failed()
    assert len(calls) == 1


def test_every_task_retries_transient_errors():
    for name in (n for n in current_app.tasks if n.startswith("annotate.tasks.")):
        task = current_app.tasks[name]
        assert set(tasks.TRANSIENT_ERRORS) <= set(task.autoretry_for), name
        assert task.retry_backoff, name
        assert task.retry_jitter, name
        assert task.max_retries == tasks.RETRY["max_retries"], name
