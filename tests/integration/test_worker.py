"""Work crosses to a real Celery worker process through Redis, after commit."""

import shutil
import subprocess
import time
import uuid
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.utils import timezone

from annotate.models import Assignment, AssignmentStatus, Clip, RaterProfile, Rating
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


def _redis_restartable(url: str) -> bool:
    host = urlparse(url).hostname
    return host in ("127.0.0.1", "localhost") and shutil.which("redis-server") is not None


def test_a_rating_is_kept_while_redis_restarts_and_work_resumes(worker, client_for, settings):
    """Redis keeps nothing on disk here: a restart loses queued messages, never a rating.

    While Redis is down, ratings are still stored (201) and the enqueue failure is only
    logged; once Redis is back the worker reconnects and runs new work. Restarts the
    local Redis, so it only runs where redis-server is installed on this machine.
    """
    if not _redis_restartable(settings.REDIS_URL):
        pytest.skip("needs a local redis-server to restart")
    port = str(urlparse(settings.REDIS_URL).port or 6379)
    project = make_project(min_raters=1)
    make_clips(project, 3)
    client = client_for(make_user("rita", "rater", [project]))
    subprocess.run(["redis-cli", "-p", port, "shutdown", "nosave"], check=False, timeout=10)
    try:
        started = time.monotonic()
        rate_clip(client, project, {"arousal": 0.1, "valence": 0.2})
        assert time.monotonic() - started < 15, "a broker outage must not hang the request"
        assert Rating.objects.count() == 1
    finally:
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                port,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            timeout=10,
        )
        wait_for(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", port, "ping"], capture_output=True, text=True, timeout=5
                ).stdout.strip()
                == "PONG"
            ),
            what="Redis to answer again",
        )
    rate_clip(client, project, {"arousal": 0.3, "valence": 0.2})
    assert Rating.objects.count() == 2
    Assignment.objects.create(
        project=project,
        clip=Clip.objects.exclude(ratings__isnull=False).first(),
        rater=make_user("otto", "rater", [project]),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    Clip.objects.filter(assignments__status=AssignmentStatus.ACTIVE).update(active_leases=1)

    def expired_after_retrying():
        assignments_expire_task.delay()
        return not Assignment.objects.filter(status=AssignmentStatus.ACTIVE).exists()

    wait_for(expired_after_retrying, timeout=90, interval=3, what="the worker to reconnect")
