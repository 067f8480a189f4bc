"""Declared, validated list filters (issue 15, must-have 8): `?clip=` filters ratings,
values a filter does not accept are a 400 `bad_filter`, and the clip list's states are
counted by the stats endpoint with the same definition."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Assignment, Clip, ClipState, Rating
from annotate.services.assignments import assignments_expire
from tests.conftest import make_clips, make_user

pytestmark = pytest.mark.django_db


def _rate(client, project) -> dict:
    lease = client.post(f"/api/v1/projects/{project.pk}/next/")
    assert lease.status_code == 200, lease.content
    response = client.post(
        f"/api/v1/assignments/{lease.json()['assignment']['id']}/rating/",
        {"values": {"arousal": 0.1, "valence": 0.0}, "client_token": uuid.uuid4().hex},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _bad_filter(response, *names: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == "bad_filter"
    for name in names:
        assert f"{name}:" in body["detail"]


# Ratings -------------------------------------------------------------------------------


@pytest.fixture
def ratings(project, clips, rater, other_rater, client_for):
    """Each rater rates two clips (the queue serves started clips first, so they share)."""
    out = []
    for user in (rater, other_rater):
        client = client_for(user)
        out += [_rate(client, project), _rate(client, project)]
    return out


def test_ratings_filter_by_clip(ratings, researcher, rater, client_for):
    clip_id = Rating.objects.get(pk=ratings[0]["id"]).clip_id
    expected = list(
        Rating.objects.filter(clip_id=clip_id).order_by("id").values_list("id", flat=True)
    )
    assert 0 < len(expected) < Rating.objects.count()
    assert _ids(client_for(researcher).get(f"/api/v1/ratings/?clip={clip_id}")) == expected
    # A rater still sees only their own ratings of that clip.
    own = list(
        Rating.objects.filter(clip_id=clip_id, rater=rater)
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert _ids(client_for(rater).get(f"/api/v1/ratings/?clip={clip_id}")) == own


def test_ratings_filter_by_clip_and_project_together(ratings, project, researcher, client_for):
    clip_id = Rating.objects.first().clip_id
    url = f"/api/v1/ratings/?clip={clip_id}&project={project.pk}"
    assert _ids(client_for(researcher).get(url)) == list(
        Rating.objects.filter(clip_id=clip_id).order_by("id").values_list("id", flat=True)
    )


def test_a_foreign_clip_filter_reveals_nothing(ratings, outsider, client_for):
    clip_id = Rating.objects.first().clip_id
    assert _ids(client_for(outsider).get(f"/api/v1/ratings/?clip={clip_id}")) == []


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("clip=abc", ["clip"]),
        ("clip=1.5", ["clip"]),
        ("clip=0", ["clip"]),
        ("clip=-3", ["clip"]),
        ("project=abc", ["project"]),
        ("clip=x&project=y", ["clip", "project"]),
    ],
)
def test_ratings_refuse_values_that_are_not_ids(researcher, client_for, query, names):
    _bad_filter(client_for(researcher).get(f"/api/v1/ratings/?{query}"), *names)


def test_ratings_of_a_project_not_yours_are_a_404(project, outsider, client_for):
    response = client_for(outsider).get(f"/api/v1/ratings/?project={project.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "no_project"


def test_ratings_ignore_pagination_parameters(ratings, researcher, client_for):
    response = client_for(researcher).get("/api/v1/ratings/?page=1&page_size=2")
    assert len(_ids(response)) == 2


# Clips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("state=bogus", "state"),
        ("state=AWAITING_HUMANS", "state"),
        ("leased=maybe", "leased"),
        ("target=loudness", "target"),
        ("confidence_min=low", "confidence_min"),
        ("agreement_max=high", "agreement_max"),
        ("ordering=random", "ordering"),
    ],
)
def test_the_clip_list_refuses_unknown_values(project, clips, researcher, client_for, query, name):
    _bad_filter(client_for(researcher).get(f"/api/v1/projects/{project.pk}/clips/?{query}"), name)


def test_a_bad_filter_on_a_foreign_project_is_still_a_404(project, outsider, client_for):
    response = client_for(outsider).get(f"/api/v1/projects/{project.pk}/clips/?state=bogus")
    assert response.status_code == 404


def _state_counts_by_filter(client, project) -> dict[str, int]:
    counts = {}
    for key in ("new", "awaiting_humans", "leased", "rated", "machine_labelled", "deferred"):
        response = client.get(f"/api/v1/projects/{project.pk}/clips/?state={key}&page_size=1")
        assert response.status_code == 200, response.content
        counts[key] = response.json()["count"]
    return counts


def test_every_state_filter_agrees_with_the_stats(
    project, media_root, rater, other_rater, researcher, client_for
):
    clips = make_clips(project, 8)
    Clip.objects.filter(pk=clips[6].pk).update(state=ClipState.MACHINE_LABELLED)
    Clip.objects.filter(pk=clips[7].pk).update(state=ClipState.DEFERRED)
    third = make_user("tara", "rater", [project])
    _rate(client_for(rater), project)
    # Two live leases: other_rater and the third rater each hold one clip.
    for user in (other_rater, third):
        assert client_for(user).post(f"/api/v1/projects/{project.pk}/next/").status_code == 200
    staff = client_for(researcher)

    def check() -> dict[str, int]:
        stats = staff.get(f"/api/v1/projects/{project.pk}/stats/").json()
        by_filter = _state_counts_by_filter(staff, project)
        assert by_filter == stats["states"]
        assert sum(by_filter.values()) == stats["clips"] == 8
        leased = staff.get(f"/api/v1/projects/{project.pk}/clips/?leased=true").json()
        assert leased["count"] == stats["states"]["leased"]
        return stats["states"]

    states = check()
    assert states["leased"] >= 1
    assert states["machine_labelled"] == 1
    assert states["deferred"] == 1

    # Leases run out: once given back, the clips count as awaiting humans on both sides.
    Assignment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assignments_expire(project_id=project.pk)
    states = check()
    assert states["leased"] == 0
