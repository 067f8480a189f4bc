"""The stop signal: a project's learning curve from its training runs and ratings, and
whether more ratings add little, for researchers and admins only."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from annotate.models import Rating, RunState, TrainingRun
from tests.conftest import make_clips, make_user

pytestmark = pytest.mark.django_db

COSTS = list(range(10, 121, 10))
START = timezone.now() - timedelta(days=1)


@pytest.fixture
def rated(project, media_root):
    """120 ratings (30 clips, 4 raters), the i-th created i minutes after START."""
    raters = [make_user(f"crowd{j}", "rater", [project]) for j in range(4)]
    clips = make_clips(project, 30)
    ratings = Rating.objects.bulk_create(
        Rating(
            clip=clip,
            rater=rater,
            values={"arousal": 0.1, "valence": 0.0},
            client_token=f"c{clip.pk}",
        )
        for rater in raters
        for clip in clips
    )
    for i, rating in enumerate(ratings):
        rating.created_at = START + timedelta(minutes=i)
    Rating.objects.bulk_update(ratings, ["created_at"])
    return ratings


def add_run(project, ratings: int, dev_ccc: dict, *, state=RunState.SUCCEEDED) -> TrainingRun:
    """A run that started just after the project's `ratings`-th rating."""
    started = START + timedelta(minutes=ratings - 1, seconds=30)
    return TrainingRun.objects.create(
        project=project,
        state=state,
        metrics={"dev_ccc": dev_ccc, "vs_active": None} if state == RunState.SUCCEEDED else {},
        started_at=started,
        finished_at=started + timedelta(seconds=20),
    )


def saturating(cost: int) -> dict:
    return {
        "arousal": round(0.7 * (1 - np.exp(-cost / 8)), 4),
        "valence": round(0.5 * (1 - np.exp(-cost / 8)), 4),
    }


def url(project_id: int) -> str:
    return f"/api/v1/projects/{project_id}/stop-signal/"


def test_saturating_curve_fires_where_more_ratings_add_little(
    client_for, researcher, project, rated
):
    runs = [add_run(project, cost, saturating(cost)) for cost in COSTS]
    response = client_for(researcher).get(url(project.pk))
    assert response.status_code == 200
    body = response.json()
    assert body["targets"] == ["arousal", "valence"]
    assert [point["ratings"] for point in body["points"]] == COSTS
    assert [point["run"] for point in body["points"]] == [run.pk for run in runs]
    assert body["points"][0]["dev_ccc"] == saturating(10)
    signal = body["signal"]
    assert signal["fired"] is True
    assert signal["at_cost"] == 80
    assert body["points"][signal["round_index"]]["ratings"] == 80
    assert signal["plateau"]["arousal"] == pytest.approx(0.7, abs=0.02)
    assert signal["plateau"]["valence"] == pytest.approx(0.5, abs=0.02)
    assert all(0 <= gain < 0.01 for gain in signal["gain"].values())
    assert "add little" in signal["reason"]


def test_rising_curve_does_not_fire(client_for, admin, project, rated):
    for cost in COSTS:
        value = round(0.1 + 0.1 * np.log2(cost / 10), 4)
        add_run(project, cost, {"arousal": value, "valence": value})
    signal = client_for(admin).get(url(project.pk)).json()["signal"]
    assert signal["fired"] is False
    assert signal["at_cost"] is None
    assert signal["round_index"] is None
    assert signal["reason"].startswith("not yet at 120 ratings")
    assert "still rising" in signal["reason"]


def test_failed_runs_are_no_point_and_a_rerun_on_the_same_ratings_replaces_its_point(
    client_for, researcher, project, rated
):
    add_run(project, 10, {"arousal": 0.2, "valence": 0.1})
    add_run(project, 20, {}, state=RunState.FAILED)
    rerun = add_run(project, 10, {"arousal": 0.25, "valence": None})
    body = client_for(researcher).get(url(project.pk)).json()
    assert body["points"] == [
        {
            "run": rerun.pk,
            "started_at": body["points"][0]["started_at"],
            "ratings": 10,
            "dev_ccc": {"arousal": 0.25, "valence": None},
            "vs_active": None,
        }
    ]
    assert body["signal"]["fired"] is False
    assert body["signal"]["reason"].startswith("not yet at 10 ratings: only 1 of 4 rounds")


def test_a_project_without_runs_does_not_fire_and_says_why(client_for, researcher, project):
    body = client_for(researcher).get(url(project.pk)).json()
    assert body["points"] == []
    assert body["signal"] == {
        "fired": False,
        "at_cost": None,
        "round_index": None,
        "plateau": {"arousal": None, "valence": None},
        "gain": {"arousal": None, "valence": None},
        "flat": [],
        "reason": "no learning curve yet: no training run has succeeded after human ratings",
    }


def test_raters_get_403_and_others_404(client_for, rater, outsider, researcher, project):
    forbidden = client_for(rater).get(url(project.pk))
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "staff_only"
    hidden = client_for(outsider).get(url(project.pk))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "no_project"
    missing = client_for(researcher).get(url(project.pk + 1000))
    assert missing.status_code == 404
    assert missing.json() == hidden.json()
