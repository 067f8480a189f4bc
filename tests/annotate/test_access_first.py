"""Access first: an object a user may not see is a 404 before anything else is read.

For every endpoint that names an object, a missing id and the id of someone else's object
give the very same 404 body, so a non-member learns neither that the object exists nor
which project owns it; and a project's raters get 403 on its staff endpoints.
"""

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from annotate.models import Assignment, AssignmentStatus, Rating, TrainingRun
from tests.conftest import make_clips, make_project, make_user

pytestmark = pytest.mark.django_db

MISSING = 2_000_000_000
RATING = {"values": {"arousal": 0.1, "valence": 0.0}, "client_token": "t-" + "0" * 30}

# (method, url with {} for the project id)
PROJECT_ENDPOINTS = [
    ("get", "/api/v1/projects/{}/"),
    ("post", "/api/v1/projects/{}/next/"),
    ("get", "/api/v1/projects/{}/progress/"),
    ("get", "/api/v1/projects/{}/stats/"),
    ("get", "/api/v1/projects/{}/raters/"),
    ("get", "/api/v1/projects/{}/clips/"),
    ("post", "/api/v1/projects/{}/clips/"),
    ("post", "/api/v1/projects/{}/retrain/"),
    ("get", "/api/v1/projects/{}/training-runs/"),
    ("get", "/api/v1/projects/{}/models/"),
    ("get", "/api/v1/ratings/?project={}"),
]
STAFF_PROJECT_ENDPOINTS = [
    ("get", "/api/v1/projects/{}/stats/", "staff_only"),
    ("get", "/api/v1/projects/{}/raters/", "staff_only"),
    ("get", "/api/v1/projects/{}/clips/", "staff_only"),
    ("post", "/api/v1/projects/{}/clips/", "staff_only"),
    ("get", "/api/v1/projects/{}/training-runs/", "staff_only"),
    ("get", "/api/v1/projects/{}/models/", "staff_only"),
    ("post", "/api/v1/projects/{}/retrain/", "admin_only"),
]


@pytest.fixture
def elsewhere(media_root):
    """Another project with a clip, a stranger's live lease on it, and a training run."""
    project = make_project("elsewhere")
    clip = make_clips(project, 1, start_freq=700.0)[0]
    stranger = make_user("sam", "rater", [project])
    lease = Assignment.objects.create(
        project=project,
        clip=clip,
        rater=stranger,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    run = TrainingRun.objects.create(project=project)
    return SimpleNamespace(project=project, clip=clip, lease=lease, run=run)


def call(client, method, url):
    if method == "post":
        return client.post(url, RATING, format="json")
    return client.get(url)


def assert_same_404(client, method, url, foreign_id):
    foreign = call(client, method, url.format(foreign_id))
    missing = call(client, method, url.format(MISSING))
    assert foreign.status_code == 404, (url, foreign.content)
    assert missing.status_code == 404, (url, missing.content)
    assert foreign.json() == missing.json(), url
    assert str(foreign_id) not in foreign.content.decode()
    return foreign.json()


@pytest.mark.parametrize(("method", "url"), PROJECT_ENDPOINTS)
@pytest.mark.parametrize("who", ["rater", "researcher"])
def test_a_project_not_yours_is_the_same_404_as_a_missing_one(
    request, client_for, project, elsewhere, method, url, who
):
    user = request.getfixturevalue(who)
    body = assert_same_404(client_for(user), method, url, elsewhere.project.pk)
    assert body["code"] == "no_project"


@pytest.mark.parametrize("who", ["rater", "researcher"])
def test_a_clip_not_yours_is_the_same_404_as_a_missing_one(request, client_for, elsewhere, who):
    user = request.getfixturevalue(who)
    body = assert_same_404(client_for(user), "get", "/api/v1/clips/{}/audio/", elsewhere.clip.pk)
    assert body["code"] == "no_clip"
    assert "elsewhere" not in str(body)
    assert "project" not in str(body)


@pytest.mark.parametrize("who", ["rater", "researcher"])
def test_a_training_run_not_yours_is_the_same_404_as_a_missing_one(
    request, client_for, elsewhere, who
):
    user = request.getfixturevalue(who)
    body = assert_same_404(client_for(user), "get", "/api/v1/training-runs/{}/", elsewhere.run.pk)
    assert body["code"] == "no_run"
    assert "project" not in str(body)


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", "/api/v1/assignments/{}/rating/"), ("get", "/api/v1/assignments/{}/audio/")],
)
def test_a_lease_not_yours_is_the_same_404_as_a_missing_one(
    client_for, rater, other_rater, project, clips, elsewhere, method, url
):
    neighbour = client_for(other_rater).post(f"/api/v1/projects/{project.pk}/next/").json()
    client = client_for(rater)
    for lease_id in (neighbour["assignment"]["id"], elsewhere.lease.pk):
        body = assert_same_404(client, method, url, lease_id)
        assert body["code"] == "no_assignment"
    assert Rating.objects.count() == 0
    assert Assignment.objects.get(pk=elsewhere.lease.pk).status == AssignmentStatus.ACTIVE


def test_a_lease_in_a_project_the_rater_left_is_not_found(client_for, rater, project, clips):
    client = client_for(rater)
    lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
    project.members.remove(rater)
    response = client.post(
        f"/api/v1/assignments/{lease['assignment']['id']}/rating/", RATING, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "no_assignment"
    assert Rating.objects.count() == 0


def test_access_comes_before_reading_the_request(client_for, rater, project, elsewhere):
    """A bad body on someone else's lease or project is a 404, not a 400."""
    client = client_for(rater)
    lease = client.post(f"/api/v1/assignments/{elsewhere.lease.pk}/rating/", {}, format="json")
    assert lease.status_code == 404
    upload = client.post(f"/api/v1/projects/{elsewhere.project.pk}/clips/", {}, format="multipart")
    assert upload.status_code == 404


@pytest.mark.parametrize(("method", "url", "code"), STAFF_PROJECT_ENDPOINTS)
def test_a_rater_gets_403_on_the_staff_endpoints_of_their_project(
    client_for, rater, project, clips, method, url, code
):
    response = call(client_for(rater), method, url.format(project.pk))
    assert response.status_code == 403, url
    assert response.json()["code"] == code


def test_a_rater_gets_403_on_the_clips_and_runs_of_their_project(client_for, rater, project, clips):
    run = TrainingRun.objects.create(project=project)
    client = client_for(rater)
    for url in (f"/api/v1/clips/{clips[0].pk}/audio/", f"/api/v1/training-runs/{run.pk}/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "staff_only"


def test_staff_see_the_clips_and_runs_of_their_project(
    client_for, researcher, admin, project, clips
):
    run = TrainingRun.objects.create(project=project)
    for user in (researcher, admin):
        client = client_for(user)
        assert client.get(f"/api/v1/clips/{clips[0].pk}/audio/").status_code == 200
        body = client.get(f"/api/v1/training-runs/{run.pk}/").json()
        assert body["id"] == run.pk
        assert body["model_version"] is None
        runs = client.get(f"/api/v1/projects/{project.pk}/training-runs/").json()
        assert [r["id"] for r in runs["results"]] == [run.pk]


def test_a_researcher_may_not_retrain(client_for, researcher, project):
    response = client_for(researcher).post(f"/api/v1/projects/{project.pk}/retrain/")
    assert response.status_code == 403
    assert response.json()["code"] == "admin_only"


def test_ratings_of_one_project_need_membership_and_a_numeric_id(client_for, rater, project, clips):
    client = client_for(rater)
    lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
    rating = client.post(
        f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
        {**RATING, "client_token": uuid.uuid4().hex},
        format="json",
    ).json()
    mine = client.get(f"/api/v1/ratings/?project={project.pk}").json()
    assert [r["id"] for r in mine["results"]] == [rating["id"]]
    bad = client.get("/api/v1/ratings/?project=abc")
    assert bad.status_code == 400
    assert bad.json()["code"] == "bad_filter"


@pytest.mark.parametrize("url", ["/rate/{}/", "/projects/{}/"])
def test_pages_of_a_project_not_yours_are_the_same_404_as_a_missing_one(
    client, rater, researcher, project, elsewhere, url
):
    for user in (rater, researcher):
        client.force_login(user)
        foreign = client.get(url.format(elsewhere.project.pk))
        missing = client.get(url.format(MISSING))
        assert foreign.status_code == missing.status_code == 404, url
        assert foreign.content == missing.content.replace(
            str(MISSING).encode(), str(elsewhere.project.pk).encode()
        )


def test_the_dashboard_page_is_for_staff(client, rater, researcher, project):
    client.force_login(rater)
    assert client.get(f"/rate/{project.pk}/").status_code == 200
    assert client.get(f"/projects/{project.pk}/").status_code == 403
    client.force_login(researcher)
    assert client.get(f"/projects/{project.pk}/").status_code == 200
