"""A researcher opens the dashboard: charts hold data, nothing overflows a phone, the queue
as raters get it, noisiest raters on top, how well models know their errors."""

import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotate.models import (
    Clip,
    ClipState,
    Label,
    LabelSource,
    ModelVersion,
    Prior,
    ProjectSnapshot,
    RaterNoise,
    Rating,
    RunState,
    TrainingRun,
)
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
    row = page.locator("#models tr").inner_text()
    assert "arousal 0.610" in row
    assert "valence —" in row


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
CHARTS = ("chart-states", "chart-ratings", "chart-share", "chart-agreement", "chart-curve")
SHOTS = Path(
    os.environ.get(
        "CONCORD_SCREENSHOTS", Path(__file__).resolve().parents[2] / "var" / "screenshots"
    )
)


def campaign_scene():
    """A project mid-campaign: 40 clips, 3 raters over the last hours, human labels with
    agreement, machine labels of an active model, 3 training runs, 2 snapshots."""
    project = make_project()
    make_user("rhea", "researcher", [project])
    raters = [make_user(name, "rater", [project]) for name in ("rita", "otto", "nina")]
    now = timezone.now()
    clips = Clip.objects.bulk_create(
        Clip(
            project=project,
            external_id=f"emo-{i:03d}",
            audio=f"clips/{i}.wav",
            sha256=f"{i:064x}",
            duration_s=2.0,
            original_sample_rate=16000,
            speaker=f"s{i % 4}",
            state=ClipState.AWAITING_HUMANS,
            ratings_wanted=2,
            priority=i / 40,
        )
        for i in range(40)
    )
    rated, machine, started = clips[:20], clips[20:30], clips[30:32]
    ratings = [
        Rating(
            clip=clip,
            rater=rater,
            values={"arousal": 0.1 * (i % 5), "valence": 0.0},
            time_spent_ms=4000,
            client_token=f"{rater.pk}-{clip.pk}",
        )
        for i, clip in enumerate(rated)
        for rater in raters[:2]
    ] + [
        Rating(
            clip=clip,
            rater=raters[2],
            values={"arousal": 0.3, "valence": 0.1},
            client_token=f"s{clip.pk}",
        )
        for clip in started
    ]
    ratings = Rating.objects.bulk_create(ratings)
    for i, rating in enumerate(ratings):
        rating.created_at = now - timedelta(hours=6) + timedelta(minutes=8 * i)
    Rating.objects.bulk_update(ratings, ["created_at"])
    Clip.objects.filter(pk__in=[c.pk for c in rated]).update(state=ClipState.RATED, n_ratings=2)
    Clip.objects.filter(pk__in=[c.pk for c in started]).update(n_ratings=1, priority=0.0)
    Clip.objects.filter(pk__in=[c.pk for c in machine]).update(
        state=ClipState.MACHINE_LABELLED, ratings_wanted=0
    )
    Label.objects.bulk_create(
        Label(
            clip=clip,
            target=target,
            value=0.2,
            source=LabelSource.HUMAN,
            n_ratings=2,
            agreement=0.5 + 0.025 * i,
        )
        for i, clip in enumerate(rated)
        for target in ("arousal", "valence")
    )
    for cost, ccc in ((10, 0.31), (24, 0.48), (40, 0.55)):
        TrainingRun.objects.create(
            project=project,
            state=RunState.SUCCEEDED,
            started_at=ratings[cost - 1].created_at + timedelta(seconds=30),
            metrics={"dev_ccc": {"arousal": ccc, "valence": ccc / 2}, "vs_active": None},
        )
    version = ModelVersion.objects.create(
        project=project,
        name="emo-v3",
        artifact="none",
        sha256="0" * 64,
        extractor_key="test",
        is_active=True,
        promoted_at=now,
        metrics={
            "dev_ccc": {"arousal": 0.55, "valence": 0.275},
            "confidence_rank": {"arousal": 0.41, "valence": 0.22},
            "self_label_threshold": 0.11,
            "dev_self_label_share": 0.3,
            "dev_machine_label_mae": 0.074,
        },
    )
    Label.objects.bulk_create(
        Label(
            clip=clip,
            target=target,
            value=0.1,
            source=LabelSource.MACHINE,
            confidence=0.06,
            model_version=version.name,
        )
        for clip in machine
        for target in ("arousal", "valence")
    )
    for hours, rated_clips in ((5, 4), (2, 14)):
        snap = ProjectSnapshot.objects.create(
            project=project,
            states={"awaiting_humans": 40 - rated_clips, "rated": rated_clips},
            labels={"human": 2 * rated_clips, "machine": 0},
            ratings=2 * rated_clips,
        )
        ProjectSnapshot.objects.filter(pk=snap.pk).update(taken_at=now - timedelta(hours=hours))
    return project, started


def test_dashboard_charts_hold_data_and_fit_desktop_and_phone(live_server, browser, media_root):
    project, started = campaign_scene()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server.url, "rhea", "pw-rhea")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_function(
        "ids => ids.every(id => Number(document.getElementById(id).dataset.points) > 0)",
        arg=list(CHARTS),
    )
    points = {c: int(page.locator(f"#{c}").get_attribute("data-points")) for c in CHARTS}
    assert points["chart-curve"] == 3
    assert points["chart-states"] == 4  # two snapshots, the one this read took, and now
    assert page.locator(".chart-empty:visible").count() == 0
    assert "has not fired after 3 training runs" in page.locator("#stop-sentence").inner_text()
    # The queue as raters get it: the clips others started first, linked to the inspector.
    first = page.locator("#queue tr").first
    assert "started by others: 1 of 2 ratings" in first.inner_text()
    href = first.locator("a").get_attribute("href")
    assert href == f"/projects/{project.pk}/clips/{started[0].pk}/"
    assert "0.000" not in first.inner_text()
    model = page.locator("#models tr").inner_text()
    assert "at most 0.110" in model
    assert "30 %" in model
    # Tables fit their card at 1366 px without scrolling sideways.
    overflow = page.evaluate(
        "() => [...document.querySelectorAll('#dashboard .scroll')]"
        ".filter(s => s.scrollWidth > s.clientWidth + 1).length"
    )
    assert overflow == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "dashboard-1366.png", full_page=True)

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # charts resize on the next frame
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the dashboard is {width} px wide on a 390 px phone"
    page.screenshot(path=SHOTS / "dashboard-390.png", full_page=True)
    assert errors == []
    context.close()


def test_empty_project_shows_empty_states(live_server, page, media_root):
    project = make_project()
    make_user("rhea", "researcher", [project])
    sign_in(page, live_server.url, "rhea", "pw-rhea")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_function("() => document.querySelector('#models td.empty-row') !== null")
    assert page.locator("#models").inner_text().startswith("No model yet")
    assert page.locator("#queue").inner_text().startswith("Nothing open for raters")
    assert page.locator("#raters").inner_text().startswith("No rater yet")
    assert page.locator(".chart-empty:visible").count() == len(CHARTS)
    assert page.locator("#banner").is_hidden()
