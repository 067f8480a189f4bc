"""Clip inspector and clip list (issue 15, must-have 3): detail, filters, pages, roles."""

import uuid

import pytest
from django.test import Client

from annotate.models import (
    Clip,
    ClipState,
    Label,
    LabelSource,
    ModelVersion,
    RaterNoise,
    Rating,
    ReferenceLabel,
    TrainingRun,
)
from tests.conftest import make_clips

pytestmark = pytest.mark.django_db


def _rating(clip, user, arousal, valence, ms=2500):
    return Rating.objects.create(
        clip=clip,
        rater=user,
        values={"arousal": arousal, "valence": valence},
        time_spent_ms=ms,
        client_token=uuid.uuid4().hex,
    )


@pytest.fixture
def version(project):
    run = TrainingRun.objects.create(project=project, state="succeeded")
    return ModelVersion.objects.create(
        project=project,
        run=run,
        name="p-insp",
        artifact="none",
        sha256="0",
        extractor_key="x",
        metrics={"self_label_threshold": 0.12},
        is_active=True,
    )


@pytest.fixture
def scene(project, clips, rater, other_rater, version):
    """clip 0 rated twice with human labels and a reference; clip 1 machine-labelled;
    clip 2 deferred; clip 3 awaiting with a lease."""
    rated, machine, deferred, leased = clips
    _rating(rated, rater, 0.2, 0.4)
    _rating(rated, other_rater, 0.4, 0.0)
    Clip.objects.filter(pk=rated.pk).update(state=ClipState.RATED, n_ratings=2, ratings_wanted=2)
    Label.objects.create(
        clip=rated,
        target="arousal",
        value=0.3,
        source=LabelSource.HUMAN,
        n_ratings=2,
        agreement=0.9,
    )
    Label.objects.create(
        clip=rated,
        target="valence",
        value=0.2,
        source=LabelSource.HUMAN,
        n_ratings=2,
        agreement=0.6,
    )
    ReferenceLabel.objects.create(clip=rated, target="arousal", value=0.55)
    Clip.objects.filter(pk=machine.pk).update(state=ClipState.MACHINE_LABELLED, ratings_wanted=0)
    for target, value, error in (("arousal", -0.3, 0.08), ("valence", 0.1, 0.05)):
        Label.objects.create(
            clip=machine,
            target=target,
            value=value,
            source=LabelSource.MACHINE,
            confidence=error,
            model_version=version.name,
        )
    Clip.objects.filter(pk=deferred.pk).update(state=ClipState.DEFERRED, ratings_wanted=0)
    Clip.objects.filter(pk=leased.pk).update(active_leases=1)
    return {"rated": rated, "machine": machine, "deferred": deferred, "leased": leased}


def test_inspector_shows_ratings_labels_with_standard_error_and_reference(
    client_for, researcher, scene, rater
):
    body = client_for(researcher).get(f"/api/v1/clips/{scene['rated'].pk}/").json()
    assert body["audio_url"] == f"/api/v1/clips/{scene['rated'].pk}/audio/"
    assert body["duration_s"] == 1.0
    assert body["speaker"] == "s0"
    assert [r["rater_name"] for r in body["ratings"]] == ["rita", "otto"]
    assert body["ratings"][0]["time_spent_ms"] == 2500
    # Noise unknown: the plain standard error of the mean of 0.2 and 0.4.
    assert body["label"]["arousal"]["value"] == pytest.approx(0.3)
    assert body["label"]["arousal"]["standard_error"] == pytest.approx(0.1, abs=1e-4)
    assert body["reference"] == {"arousal": 0.55}
    assert body["why"].startswith("Rated: it has 2 of the 2 ratings it wants.")


def test_standard_error_uses_rater_noise_once_known(client_for, researcher, scene, project, rater):
    arousal = project.targets.get(name="arousal")
    arousal.rater_noise = 0.2
    arousal.save()
    RaterNoise.objects.create(target=arousal, rater=rater, noise=0.1, n_clips=20)
    body = client_for(researcher).get(f"/api/v1/clips/{scene['rated'].pk}/").json()
    # Each rating weighted by its rater's own noise, the crowd's for the unmeasured one;
    # never below what those noises allow, 1 / sqrt(1 / 0.1^2 + 1 / 0.2^2).
    import numpy as np

    from learner.raters import label_standard_error, settled_label_error

    ratings, noise = np.array([[0.2], [0.4]]), np.array([[0.1], [0.2]])
    expected = settled_label_error(ratings, noise)[0]
    assert expected == pytest.approx(max(label_standard_error(ratings, noise)[0], 0.0894), abs=1e-4)
    assert body["label"]["arousal"]["standard_error"] == pytest.approx(expected, abs=1e-4)


def test_inspector_explains_machine_labels_against_the_bar(client_for, researcher, scene):
    body = client_for(researcher).get(f"/api/v1/clips/{scene['machine'].pk}/").json()
    assert body["machine"]["arousal"]["value"] == pytest.approx(-0.3)
    assert body["machine"]["arousal"]["expected_error"] == pytest.approx(0.08)
    assert body["machine"]["arousal"]["model_version"] == "p-insp"
    assert body["self_label_bar"] == pytest.approx(0.12)  # min(0.12, project's 0.15)
    assert "worst expected error 0.080 is within the self-label bar 0.120" in body["why"]


def test_inspector_explains_deferred_and_queued(client_for, researcher, scene):
    deferred = client_for(researcher).get(f"/api/v1/clips/{scene['deferred'].pk}/").json()
    assert deferred["why"].startswith("Deferred")
    queued = client_for(researcher).get(f"/api/v1/clips/{scene['leased'].pk}/").json()
    assert queued["why"].startswith("Queued for humans: wants 2 ratings, has 0, 1 leased now.")


@pytest.mark.parametrize(
    "path", ["/api/v1/clips/{c}/", "/projects/{p}/clips/", "/projects/{p}/clips/{c}/"]
)
def test_rater_403_outsider_404(path, project, clips, rater, outsider):
    url = path.format(p=project.pk, c=clips[0].pk)
    for user, expected in ((rater, 403), (outsider, 404)):
        client = Client()
        client.force_login(user)
        assert client.get(url).status_code == expected, (user, url)


def test_reference_labels_never_reach_a_rater(client_for, rater, scene, project):
    client = client_for(rater)
    denied = client.get(f"/api/v1/clips/{scene['rated'].pk}/")
    assert denied.status_code == 403
    assert set(denied.json()) == {"detail", "code"}
    for url in (
        f"/api/v1/ratings/?project={project.pk}",
        f"/api/v1/projects/{project.pk}/",
        f"/api/v1/projects/{project.pk}/clips/",
    ):
        assert "0.55" not in client.get(url).content.decode(), url


def test_clip_page_of_another_project_is_404(client, researcher, project, media_root, scene):
    from tests.conftest import make_project

    other = make_project("elsewhere")
    other.members.add(researcher)
    foreign = make_clips(other, 1, start_freq=1500)[0]
    client.force_login(researcher)
    assert client.get(f"/projects/{project.pk}/clips/{foreign.pk}/").status_code == 404
    page = client.get(f"/projects/{project.pk}/clips/{scene['rated'].pk}/")
    assert page.status_code == 200
    assert "vendor/wavesurfer/wavesurfer.min.js" in page.content.decode()
    listing = client.get(f"/projects/{project.pk}/clips/")
    assert 'aria-current="page">Clips' in listing.content.decode()


def _ids(client, project, query):
    response = client.get(f"/api/v1/projects/{project.pk}/clips/?{query}")
    assert response.status_code == 200, response.json()
    return [c["id"] for c in response.json()["results"]]


def test_clip_list_filters(client_for, researcher, project, scene):
    client = client_for(researcher)
    rated, machine, deferred, leased = (
        scene[k].pk for k in ("rated", "machine", "deferred", "leased")
    )
    assert _ids(client, project, "state=rated") == [rated]
    assert _ids(client, project, "state=deferred") == [deferred]
    assert _ids(client, project, "state=leased") == [leased]
    assert _ids(client, project, "leased=true") == [leased]
    assert leased not in _ids(client, project, "state=awaiting_humans")
    assert _ids(client, project, "speaker=s1") == [machine]
    assert _ids(client, project, "search=corpus-002") == [deferred]
    assert _ids(client, project, "target=arousal&confidence_max=0.1") == [machine]
    assert _ids(client, project, "target=valence&confidence_min=0.06") == []
    assert _ids(client, project, "target=valence&agreement_max=0.7") == [rated]
    assert _ids(client, project, "agreement_min=0.95") == []
    assert _ids(client, project, "ordering=-id") == [leased, deferred, machine, rated]


def test_leased_filter_agrees_with_stats(client_for, researcher, project, scene):
    client = client_for(researcher)
    stats = client.get(f"/api/v1/projects/{project.pk}/stats/").json()["states"]
    for state in ("leased", "awaiting_humans", "rated", "machine_labelled", "deferred"):
        count = client.get(f"/api/v1/projects/{project.pk}/clips/?state={state}").json()["count"]
        assert count == stats[state], state


@pytest.mark.parametrize(
    "query",
    ["state=bogus", "target=loudness", "confidence_min=high", "ordering=colour", "leased=maybe"],
)
def test_bogus_filters_are_400_with_the_error_shape(client_for, researcher, project, scene, query):
    response = client_for(researcher).get(f"/api/v1/projects/{project.pk}/clips/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_filter"
    assert set(response.json()) == {"detail", "code"}
