"""Who sees what: every endpoint, for each member of the cast."""

import uuid

import pytest
from rest_framework.test import APIClient

from annotate.models import Label, RaterNoise, ReferenceLabel

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated(client_for, rater, other_rater, project, clips):
    """One rating each from rater and other_rater; a label and a reference on clip 0."""
    ratings = {}
    for user in (rater, other_rater):
        client = client_for(user)
        lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
        response = client.post(
            f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
            {"values": {"arousal": 0.2, "valence": 0.1}, "client_token": uuid.uuid4().hex},
            format="json",
        )
        ratings[user.username] = response.json()["id"]
    ReferenceLabel.objects.create(clip=clips[0], target="arousal", value=0.59)
    return ratings


def test_anonymous_gets_401_everywhere(project, clips):
    client = APIClient()
    for method, url in [
        ("get", "/api/v1/projects/"),
        ("get", f"/api/v1/projects/{project.pk}/"),
        ("post", f"/api/v1/projects/{project.pk}/next/"),
        ("get", f"/api/v1/projects/{project.pk}/clips/"),
        ("get", f"/api/v1/projects/{project.pk}/stats/"),
        ("get", f"/api/v1/projects/{project.pk}/raters/"),
        ("get", f"/api/v1/projects/{project.pk}/progress/"),
        ("post", "/api/v1/assignments/1/rating/"),
        ("get", "/api/v1/assignments/1/audio/"),
        ("get", f"/api/v1/clips/{clips[0].pk}/audio/"),
        ("get", "/api/v1/ratings/"),
    ]:
        assert getattr(client, method)(url).status_code in (401, 403), url


def test_token_auth_for_scripts(rater):
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": "rita", "password": "pw-rita"}, format="json"
    )
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/projects/").status_code == 200
    bad = APIClient().post(
        "/api/v1/auth/token/", {"username": "rita", "password": "no"}, format="json"
    )
    assert bad.status_code == 400


def test_project_list_shows_members_their_projects_and_admins_all(
    client_for, rater, researcher, admin, outsider, project
):
    assert [p["name"] for p in client_for(rater).get("/api/v1/projects/").json()] == ["study"]
    assert [p["name"] for p in client_for(researcher).get("/api/v1/projects/").json()] == ["study"]
    assert [p["name"] for p in client_for(outsider).get("/api/v1/projects/").json()] == [
        "other-study"
    ]
    names = {p["name"] for p in client_for(admin).get("/api/v1/projects/").json()}
    assert names == {"study", "other-study"}
    item = client_for(rater).get("/api/v1/projects/").json()[0]
    assert {"id", "name", "targets", "role"} <= set(item)
    assert item["role"] == "rater"
    assert client_for(outsider).get(f"/api/v1/projects/{project.pk}/").status_code == 404
    assert client_for(rater).get(f"/api/v1/projects/{project.pk}/").status_code == 200


def test_outsider_cannot_get_clips_of_a_project_not_theirs(client_for, outsider, project, clips):
    client = client_for(outsider)
    assert client.post(f"/api/v1/projects/{project.pk}/next/").status_code == 404
    assert client.get(f"/api/v1/projects/{project.pk}/clips/").status_code == 404
    assert client.get(f"/api/v1/projects/{project.pk}/stats/").status_code == 404
    assert client.get(f"/api/v1/clips/{clips[0].pk}/audio/").status_code == 404


def test_rater_cannot_list_clips_or_stats(client_for, rater, project, clips):
    client = client_for(rater)
    response = client.get(f"/api/v1/projects/{project.pk}/clips/")
    assert response.status_code == 403
    assert "researchers" in response.json()["detail"]
    assert client.get(f"/api/v1/projects/{project.pk}/stats/").status_code == 403
    assert client.get(f"/api/v1/projects/{project.pk}/raters/").status_code == 403
    assert client.get(f"/api/v1/clips/{clips[0].pk}/audio/").status_code == 403


def test_researcher_lists_clips_with_metadata_labels_and_reference(
    client_for, researcher, project, clips, rated
):
    response = client_for(researcher).get(f"/api/v1/projects/{project.pk}/clips/")
    assert response.status_code == 200
    body = response.json()
    assert {"results", "next", "count"} <= set(body)
    first = body["results"][0]
    assert first["external_id"] == "corpus-000"
    assert first["metadata"] == {"category": "anger"}
    assert first["state"] in {"awaiting_humans", "rated"}
    assert first["reference"] == {"arousal": 0.59}
    assert "arousal" in first["labels"]
    filtered = client_for(researcher).get(f"/api/v1/projects/{project.pk}/clips/?state=deferred")
    assert filtered.json()["count"] == 0


def test_clip_list_is_paginated(client_for, researcher, project, clips):
    url = f"/api/v1/projects/{project.pk}/clips/?page_size=2"
    body = client_for(researcher).get(url).json()
    assert body["count"] == 4
    assert body["next"] is not None


def test_stats_count_clips_ratings_and_states(client_for, researcher, admin, project, clips, rated):
    stats = client_for(researcher).get(f"/api/v1/projects/{project.pk}/stats/").json()
    assert stats["clips"] == 4
    assert stats["ratings"] == 2
    assert set(stats["states"]) >= {
        "awaiting_humans",
        "leased",
        "rated",
        "machine_labelled",
        "deferred",
    }
    assert sum(stats["states"].values()) == 4
    assert client_for(admin).get(f"/api/v1/projects/{project.pk}/stats/").status_code == 200


def test_stats_count_a_leased_clip_as_leased(client_for, rater, researcher, project, clips):
    client_for(rater).post(f"/api/v1/projects/{project.pk}/next/")
    stats = client_for(researcher).get(f"/api/v1/projects/{project.pk}/stats/").json()
    assert stats["states"]["leased"] == 1
    assert stats["states"]["awaiting_humans"] == 3


def test_rater_sees_only_own_ratings_and_no_labels(client_for, rater, project, clips, rated):
    Label.objects.update(value=0.2)
    response = client_for(rater).get("/api/v1/ratings/")
    ids = [r["id"] for r in response.json()["results"]]
    assert ids == [rated["rita"]]
    text = response.content.decode()
    assert "rater" not in response.json()["results"][0]
    assert "label" not in text
    assert "reference" not in text


def test_researcher_and_admin_see_all_ratings_of_the_project(
    client_for, researcher, admin, outsider, project, rated
):
    for user in (researcher, admin):
        ids = sorted(r["id"] for r in client_for(user).get("/api/v1/ratings/").json()["results"])
        assert ids == sorted(rated.values())
    assert client_for(outsider).get("/api/v1/ratings/").json()["results"] == []


def test_audio_only_for_the_lease_holder(
    client_for, rater, other_rater, researcher, project, clips
):
    lease = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/").json()
    audio = client_for(rater).get(lease["clip"]["audio_url"])
    assert audio.status_code == 200
    assert audio["Content-Type"] == "audio/wav"
    assert b"".join(audio.streaming_content)[:4] == b"RIFF"
    assert client_for(other_rater).get(lease["clip"]["audio_url"]).status_code == 404
    staff = client_for(researcher).get(f"/api/v1/clips/{lease['clip']['id']}/audio/")
    assert staff.status_code == 200


def test_openapi_schema_and_docs_are_served(client_for, rater):
    schema = APIClient().get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in (
        "/api/v1/projects/{project_id}/next/",
        "/api/v1/assignments/{assignment_id}/rating/",
        "/api/v1/auth/token/",
        "/api/v1/projects/{project_id}/stats/",
    ):
        assert path in text
    assert APIClient().get("/api/docs/").status_code == 200


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_raters_list_shows_each_raters_noise_noisiest_first(
    client_for, researcher, rater, other_rater, project, clips, rated
):
    url = f"/api/v1/projects/{project.pk}/raters/"
    body = client_for(researcher).get(url).json()
    assert {r["username"] for r in body} == {rater.username, other_rater.username}
    assert all(r["ratings"] == 1 for r in body)
    assert all(r["noise"] == {"arousal": None, "valence": None} for r in body)
    arousal = project.targets.get(name="arousal")
    RaterNoise.objects.create(target=arousal, rater=rater, noise=0.12, n_clips=30)
    RaterNoise.objects.create(target=arousal, rater=other_rater, noise=0.55, n_clips=30)
    body = client_for(researcher).get(url).json()
    assert [r["username"] for r in body] == [other_rater.username, rater.username]
    assert body[0]["noise"] == {"arousal": pytest.approx(0.55), "valence": None}
    assert body[0]["worst_noise"] == pytest.approx(0.55)
