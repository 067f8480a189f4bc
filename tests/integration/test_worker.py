"""Work crosses to a real Celery worker process through Redis, after commit."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Assignment, AssignmentStatus, Clip, RaterProfile
from annotate.tasks import assignments_expire_task
from tests.conftest import make_clips, make_project, make_user
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def rate_clip(client, project, values):
    lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
    response = client.post(
        f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
        {"values": values, "client_token": uuid.uuid4().hex},
        format="json",
    )
    assert response.status_code == 201, response.content
    return lease["clip"]["id"]


def test_worker_expires_overdue_leases(worker, client_for):
    project = make_project(min_raters=1)
    make_clips(project, 1)
    rater = make_user("rita", "rater", [project])
    lease = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/").json()
    Assignment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assignments_expire_task.delay()
    wait_for(
        lambda: (
            Assignment.objects.get(pk=lease["assignment"]["id"]).status == AssignmentStatus.EXPIRED
        ),
        what="the worker to expire the lease",
    )
    assert Clip.objects.get().active_leases == 0


def test_ratings_update_rater_reliability_on_the_worker(worker, client_for):
    project = make_project(min_raters=4, max_raters=4)
    clip_ids = [clip.pk for clip in make_clips(project, 6)]
    truth = dict(zip(clip_ids, [-0.8, -0.4, 0.0, 0.3, 0.6, 0.9], strict=True))
    raters = [make_user(f"r{i}", "rater", [project]) for i in range(4)]
    for i, user in enumerate(raters):
        client = client_for(user)
        for _ in clip_ids:
            lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
            gold = truth[lease["clip"]["id"]]
            value = -gold if i == 3 else gold + 0.05 * i  # r3 answers the opposite
            response = client.post(
                f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
                {"values": {"arousal": value, "valence": value}, "client_token": uuid.uuid4().hex},
                format="json",
            )
            assert response.status_code == 201
    wait_for(
        lambda: RaterProfile.objects.filter(reliability_n=len(clip_ids)).count() == 4,
        what="the worker to update reliabilities",
    )
    reliability = {
        p.user.username: p.reliability for p in RaterProfile.objects.select_related("user")
    }
    assert reliability["r3"] < min(reliability[f"r{i}"] for i in range(3))
