"""The rater's loop through the API: next clip, rating, replay and every bad input."""

import uuid

import pytest
from django.utils import timezone

from annotate.models import Assignment, AssignmentStatus, Clip, ClipState, Label, Rating
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def next_clip(client, project):
    return client.post(f"/api/v1/projects/{project.pk}/next/")


def rate(client, assignment_id, values, token=None):
    body = {"values": values, "client_token": token or uuid.uuid4().hex}
    return client.post(f"/api/v1/assignments/{assignment_id}/rating/", body, format="json")


def test_next_gives_a_lease_and_reveals_nothing_about_the_clip(client_for, rater, project, clips):
    response = next_clip(client_for(rater), project)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"assignment", "clip", "targets", "progress"}
    assert set(body["clip"]) == {"id", "audio_url", "duration_s", "peaks"}
    text = response.content.decode()
    for secret in ("corpus-", "angry", "anger", "metadata", "speaker", ".wav"):
        assert secret not in text
    assert [t["name"] for t in body["targets"]] == ["arousal", "valence"]
    assert body["targets"][0]["min"] == -1.0
    assert body["targets"][0]["max"] == 1.0
    assert Assignment.objects.get(pk=body["assignment"]["id"]).rater == rater


def test_asking_again_returns_the_live_lease(client_for, rater, project, clips):
    client = client_for(rater)
    first = next_clip(client, project).json()
    second = next_clip(client, project).json()
    assert first["assignment"]["id"] == second["assignment"]["id"]
    assert Assignment.objects.filter(rater=rater).count() == 1


def test_rating_is_stored_and_replay_returns_it_without_duplicate(
    client_for, rater, project, clips
):
    client = client_for(rater)
    lease = next_clip(client, project).json()
    token = uuid.uuid4().hex
    created = rate(client, lease["assignment"]["id"], {"arousal": 0.5, "valence": -0.25}, token)
    assert created.status_code == 201
    replay = rate(client, lease["assignment"]["id"], {"arousal": 0.5, "valence": -0.25}, token)
    assert replay.status_code == 200
    assert replay.json()["id"] == created.json()["id"]
    assert Rating.objects.count() == 1
    rating = Rating.objects.get()
    assert rating.values == {"arousal": 0.5, "valence": -0.25}
    assert Assignment.objects.get(pk=lease["assignment"]["id"]).status == AssignmentStatus.COMPLETED


@pytest.mark.parametrize(
    ("values", "code", "needle"),
    [
        ({"arousal": "high", "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": 1.5, "valence": 0}, "out_of_scale", "arousal"),
        ({"arousal": 0.1}, "missing_target", "valence"),
        ({"arousal": 0.1, "valence": 0, "dominance": 0}, "unknown_target", "dominance"),
        ({"arousal": True, "valence": 0}, "not_a_number", "arousal"),
        ([0.1, 0.2], "bad_values", "values"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_the_problem(
    client_for, rater, project, clips, values, code, needle
):
    client = client_for(rater)
    lease = next_clip(client, project).json()
    response = rate(client, lease["assignment"]["id"], values)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert needle in response.json()["detail"]
    assert Rating.objects.count() == 0
    # The lease survives a rejected rating: the rater can correct and resend.
    assert rate(client, lease["assignment"]["id"], {"arousal": 0, "valence": 0}).status_code == 201


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_numbers_are_refused(client_for, rater, project, clips, literal):
    client = client_for(rater)
    lease = next_clip(client, project).json()
    token = uuid.uuid4().hex
    body = f'{{"values": {{"arousal": {literal}, "valence": 0}}, "client_token": "{token}"}}'
    response = client.post(
        f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
        body,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "float" in response.json()["detail"].lower() or "finite" in response.json()["detail"]
    assert Rating.objects.count() == 0


def test_someone_elses_lease_is_not_found(client_for, rater, other_rater, project, clips):
    lease = next_clip(client_for(rater), project).json()
    response = rate(
        client_for(other_rater), lease["assignment"]["id"], {"arousal": 0, "valence": 0}
    )
    # Access first: someone else's lease is the same 404 as a missing one (it was 403
    # "not_your_lease"), so the response tells nobody that the lease exists.
    assert response.status_code == 404
    assert response.json()["code"] == "no_assignment"
    assert "another rater" not in response.json()["detail"]
    assert Rating.objects.count() == 0


def test_a_trace_in_the_body_is_ignored(client_for, rater, project, clips):
    client = client_for(rater)
    lease = next_clip(client, project).json()
    body = {
        "values": {"arousal": 0.1, "valence": 0},
        "client_token": uuid.uuid4().hex,
        "trace": {"arousal": [0.1] * 25},
    }
    response = client.post(
        f"/api/v1/assignments/{lease['assignment']['id']}/rating/", body, format="json"
    )
    assert response.status_code == 201
    assert "trace" not in response.json()


def test_expired_lease_is_a_conflict_and_frees_the_clip(client_for, rater, project, clips):
    client = client_for(rater)
    lease = next_clip(client, project).json()
    Assignment.objects.filter(pk=lease["assignment"]["id"]).update(expires_at=timezone.now())
    response = rate(client, lease["assignment"]["id"], {"arousal": 0, "valence": 0})
    assert response.status_code == 409
    assert response.json()["code"] == "lease_expired"
    fresh = next_clip(client, project).json()
    assert fresh["assignment"]["id"] != lease["assignment"]["id"]
    assert Assignment.objects.get(pk=lease["assignment"]["id"]).status == AssignmentStatus.EXPIRED
    assert Clip.objects.get(pk=lease["clip"]["id"]).active_leases <= 1


def test_a_token_reused_on_another_assignment_is_a_conflict(client_for, rater, project, clips):
    client = client_for(rater)
    token = uuid.uuid4().hex
    first = next_clip(client, project).json()
    assert (
        rate(client, first["assignment"]["id"], {"arousal": 0, "valence": 0}, token).status_code
        == 201
    )
    second = next_clip(client, project).json()
    response = rate(client, second["assignment"]["id"], {"arousal": 0, "valence": 0}, token)
    assert response.status_code == 409
    assert response.json()["code"] == "token_reused"


def test_rating_twice_with_new_token_is_a_conflict(client_for, rater, project, clips):
    client = client_for(rater)
    lease = next_clip(client, project).json()
    assert rate(client, lease["assignment"]["id"], {"arousal": 0, "valence": 0}).status_code == 201
    again = rate(client, lease["assignment"]["id"], {"arousal": 0.3, "valence": 0})
    assert again.status_code == 409
    assert again.json()["code"] == "already_rated"
    assert Rating.objects.count() == 1


def test_a_rater_never_gets_a_clip_twice_and_gets_204_when_done(client_for, rater, project, clips):
    client = client_for(rater)
    seen = []
    for _ in clips:
        lease = next_clip(client, project).json()
        seen.append(lease["clip"]["id"])
        assert (
            rate(client, lease["assignment"]["id"], {"arousal": 0, "valence": 0}).status_code == 201
        )
    assert sorted(seen) == sorted(c.pk for c in clips)
    done = next_clip(client, project)
    assert done.status_code == 204
    progress = client.get(f"/api/v1/projects/{project.pk}/progress/").json()
    assert progress == {"done_today": 4, "done_total": 4, "left": 0}


def test_started_clips_are_finished_before_new_ones_open(
    client_for, rater, other_rater, project, clips
):
    Clip.objects.filter(pk=clips[1].pk).update(priority=0.9)  # the learner's first choice
    first = next_clip(client_for(rater), project).json()
    assert first["clip"]["id"] == clips[1].pk
    rate(client_for(rater), first["assignment"]["id"], {"arousal": 0, "valence": 0})
    # other_rater completes the half-rated clip before anyone opens a fresh one.
    served = next_clip(client_for(other_rater), project).json()
    assert served["clip"]["id"] == first["clip"]["id"]


def test_agreeing_raters_settle_a_clip_and_write_a_human_label(
    client_for, rater, other_rater, project, clips
):
    clip = clips[0]
    Clip.objects.exclude(pk=clip.pk).update(state=ClipState.DEFERRED)
    for user, value in ((rater, 0.5), (other_rater, 0.6)):
        client = client_for(user)
        lease = next_clip(client, project).json()
        assert lease["clip"]["id"] == clip.pk
        rate(client, lease["assignment"]["id"], {"arousal": value, "valence": 0.0})
    clip.refresh_from_db()
    assert clip.n_ratings == 2
    assert clip.state == ClipState.RATED
    label = Label.objects.get(clip=clip, target="arousal", revoked_at__isnull=True)
    assert label.source == "human"
    assert label.value == pytest.approx(0.55)
    assert label.n_ratings == 2
    assert label.agreement == pytest.approx(1 - 0.05 / 1.0)


def test_disagreeing_raters_ask_for_one_more(client_for, rater, other_rater, project, clips):
    project.min_raters, project.max_raters, project.agreement_target = 2, 3, 0.8
    project.save()
    make_user("rudi", "rater", [project])  # a third rater who could give it
    clip = clips[0]
    Clip.objects.exclude(pk=clip.pk).update(state=ClipState.DEFERRED)
    for user, value in ((rater, -0.9), (other_rater, 0.9)):
        client = client_for(user)
        lease = next_clip(client, project).json()
        assert lease["clip"]["id"] == clip.pk
        rate(client, lease["assignment"]["id"], {"arousal": value, "valence": 0.0})
    clip.refresh_from_db()
    assert clip.state == ClipState.AWAITING_HUMANS
    assert clip.ratings_wanted == 3


def test_an_unreliable_rater_gets_the_easiest_clips_first(
    client_for, rater, other_rater, project, clips
):
    from annotate.models import RaterProfile

    for priority, clip in zip((0.9, 0.1, 0.5, 0.7), clips, strict=True):
        Clip.objects.filter(pk=clip.pk).update(priority=priority)
    RaterProfile.objects.filter(user=rater).update(reliability=0.1, reliability_n=40)
    RaterProfile.objects.filter(user=other_rater).update(reliability=0.9, reliability_n=40)
    assert next_clip(client_for(rater), project).json()["clip"]["id"] == clips[1].pk
    assert next_clip(client_for(other_rater), project).json()["clip"]["id"] == clips[0].pk


def test_a_large_pool_s_count_is_reused_for_a_few_seconds_and_a_small_one_is_exact(
    client_for, rater, project, clips, monkeypatch
):
    """Progress counts the clips awaiting humans once per AWAITING_COUNT_SECONDS while
    there are many (a scan of the pool per request otherwise), and every time near the
    end, so that a rater who is done reads 0 left."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotate import selectors

    client = client_for(rater)
    url = f"/api/v1/projects/{project.pk}/progress/"

    def progress() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            left = client.get(url).json()["left"]
        return left, len(queries.captured_queries)

    assert progress()[0] == len(clips)
    Clip.objects.filter(pk=clips[0].pk).update(state="rated")
    exact, exact_queries = progress()
    assert exact == len(clips) - 1
    monkeypatch.setattr(selectors, "AWAITING_EXACT_BELOW", 1)  # as if the pool were large
    Clip.objects.filter(pk=clips[1].pk).update(state="rated")
    assert progress() == (exact, exact_queries - 1)  # the count kept: one query fewer, lagging
    cache.clear()  # AWAITING_COUNT_SECONDS later
    assert progress() == (exact - 1, exact_queries)
