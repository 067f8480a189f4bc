"""A researcher opens the dashboard: noisiest raters on top, how well models know their errors."""

import uuid

import pytest

from annotate.models import ModelVersion, Prior, RaterNoise, Rating
from tests.conftest import make_clips, make_project, make_user
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_dashboard_lists_raters_noisiest_first(live_server, page, media_root):
    project = make_project()
    clips = make_clips(project, 2)
    raters = [make_user(name, "rater", [project]) for name in ("rita", "otto", "nina")]
    make_user("rhea", "researcher", [project])
    for user in raters:
        for clip in clips:
            Rating.objects.create(
                clip=clip,
                rater=user,
                values={"arousal": 0.1, "valence": 0.0},
                client_token=uuid.uuid4().hex,
            )
    for target in project.targets.all():
        RaterNoise.objects.create(target=target, rater=raters[0], noise=0.12, n_clips=2)
        RaterNoise.objects.create(target=target, rater=raters[1], noise=0.61, n_clips=2)

    sign_in(page, live_server.url, "rhea", "pw-rhea")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_function("() => document.querySelectorAll('#raters tr').length === 3")
    rows = page.locator("#raters tr").all_inner_texts()
    assert rows[0].startswith("otto")
    assert "arousal 0.610" in rows[0]
    assert rows[1].startswith("rita")
    assert "valence 0.120" in rows[1]
    assert rows[2].startswith("nina")
    assert "unmeasured" in rows[2]
    assert page.locator("#banner").is_hidden()


def test_dashboard_shows_how_well_each_model_ranks_its_errors(live_server, page, media_root):
    project = make_project()
    make_user("rhea", "researcher", [project])
    ModelVersion.objects.create(
        project=project,
        name="p-run1",
        artifact="models/p-run1.bundle",
        sha256="0" * 64,
        extractor_key="test",
        metrics={
            "dev_ccc": {"arousal": 0.7},
            "confidence_rank": {"arousal": 0.42, "valence": None},
        },
    )

    sign_in(page, live_server.url, "rhea", "pw-rhea")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_function("() => document.querySelectorAll('#models tr').length === 1")
    row = page.locator("#models tr").inner_text()
    assert "arousal 0.42" in row
    assert "valence too few clips" in row


def test_dashboard_says_whether_the_prior_was_kept(live_server, page, media_root):
    prior = Prior.objects.create(
        name="lab",
        version=1,
        targets={"arousal": [-1, 1], "valence": [-1, 1]},
        extractor_key="test",
        feature_normalisation="corpus",
        artifact="priors/lab/v1.bundle",
        sha256="0" * 64,
    )
    project = make_project(prior=prior)
    make_user("rhea", "researcher", [project])
    why = "prior lab@1 dropped: it does not help on the development speakers"
    ModelVersion.objects.create(
        project=project,
        name="p-run2",
        artifact="models/p-run2.bundle",
        sha256="0" * 64,
        extractor_key="test",
        metrics={"dev_ccc": {"arousal": 0.61, "valence": None}, "prior": {"why": why}},
    )

    sign_in(page, live_server.url, "rhea", "pw-rhea")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_function("() => !document.getElementById('prior').hidden")
    assert page.locator("#prior").inner_text() == f"Starts from prior lab@1. Newest model: {why}."
    assert "arousal 0.610, valence -" in page.locator("#models tr").inner_text()
