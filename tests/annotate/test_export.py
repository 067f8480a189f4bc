"""Exports (issue 15, must-have 6): labels and ratings as CSV or JSON, streamed, loading
straight into pandas; pseudonymised raters; the export_labels command; roles."""

import io
import json
import uuid

import pandas as pd
import pytest
from django.core.management import call_command
from django.http import StreamingHttpResponse
from django.test import Client

from annotate.models import Clip, Label, RaterBlock, Rating
from annotate.services.export import rater_pseudonym
from annotate.services.ratings import clip_settle
from tests.conftest import make_clips

pytestmark = pytest.mark.django_db


def _rate(clip: Clip, user, arousal: float, valence: float) -> Rating:
    rating = Rating.objects.create(
        clip=clip,
        rater=user,
        values={"arousal": arousal, "valence": valence},
        time_spent_ms=2500,
        client_token=uuid.uuid4().hex,
    )
    clip_settle(clip_id=clip.pk)
    return rating


@pytest.fixture
def labelled(project, media_root, rater, other_rater):
    """Three clips: two rated by both raters (human labels), one machine-labelled."""
    clips = make_clips(project, 3)
    for i, clip in enumerate(clips[:2]):
        _rate(clip, rater, 0.1 * i, -0.2)
        _rate(clip, other_rater, 0.1 * i + 0.2, 0.2)
    for target, value in (("arousal", 0.4), ("valence", -0.1)):
        Label.objects.create(
            clip=clips[2],
            target=target,
            value=value,
            source="machine",
            confidence=0.12,
            model_version="p1-run3",
        )
    return clips


def _body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def test_labels_csv_one_row_per_clip_and_target_into_pandas(
    client_for, researcher, project, labelled
):
    response = client_for(researcher).get(f"/api/v1/projects/{project.pk}/export/labels/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    frame = pd.read_csv(io.StringIO(_body(response)))
    assert len(frame) == 6  # 3 clips x 2 targets
    assert list(frame.target[:2]) == ["arousal", "valence"]  # the targets' order
    human = frame[frame.source == "human"]
    machine = frame[frame.source == "machine"]
    assert len(human) == 4
    assert len(machine) == 2
    assert (human.n_ratings == 2).all()
    # Two ratings 0.2 apart: the mean and a standard error from their spread.
    first = human[(human.clip_id == labelled[0].pk) & (human.target == "arousal")].iloc[0]
    assert first.value == pytest.approx(0.1)
    assert first.standard_error > 0
    assert 0 <= first.agreement <= 1
    assert human.confidence.isna().all()
    assert machine.standard_error.isna().all()
    assert (machine.confidence == 0.12).all()
    assert (machine.model_version == "p1-run3").all()


def test_labels_json_matches_csv(client_for, researcher, project, labelled):
    client = client_for(researcher)
    url = f"/api/v1/projects/{project.pk}/export/labels/"
    as_json = pd.read_json(io.StringIO(_body(client.get(url + "?format=json"))))
    as_csv = pd.read_csv(io.StringIO(_body(client.get(url + "?format=csv"))))
    assert list(as_json.columns) == list(as_csv.columns)
    assert as_json.value.tolist() == pytest.approx(as_csv.value.tolist())


def test_revoked_labels_only_on_request(client_for, researcher, project, labelled):
    from django.utils import timezone

    Label.objects.filter(source="machine").update(revoked_at=timezone.now())
    client = client_for(researcher)
    url = f"/api/v1/projects/{project.pk}/export/labels/?format=json"
    assert len(json.loads(_body(client.get(url)))) == 4
    assert len(json.loads(_body(client.get(url + "&include_revoked=1")))) == 6


def test_ratings_export_with_pseudonyms(client_for, researcher, project, labelled, rater):
    client = client_for(researcher)
    url = f"/api/v1/projects/{project.pk}/export/ratings/"
    plain = pd.read_csv(io.StringIO(_body(client.get(url))))
    assert len(plain) == 4
    assert {"arousal", "valence", "time_spent_ms"} <= set(plain.columns)
    assert rater.pk in set(plain.rater)
    hidden = pd.read_csv(io.StringIO(_body(client.get(url + "?pseudonymise=1"))))
    assert not ({str(rater.pk), rater.username} & set(hidden.rater.astype(str)))
    pseudonym = rater_pseudonym(rater_id=rater.pk, project_id=project.pk)
    assert (hidden.rater == pseudonym).sum() == 2  # stable: one name for both ratings
    assert pseudonym != rater_pseudonym(rater_id=rater.pk, project_id=project.pk + 1)


def test_excluded_raters_leave_the_exported_labels(
    client_for, researcher, project, labelled, other_rater
):
    RaterBlock.objects.create(project=project, rater=other_rater, exclude_ratings=True)
    for clip in labelled[:2]:
        clip_settle(clip_id=clip.pk)
    url = f"/api/v1/projects/{project.pk}/export/labels/?format=json"
    rows = json.loads(_body(client_for(researcher).get(url)))
    human = [r for r in rows if r["source"] == "human"]
    assert {r["n_ratings"] for r in human} == {1}
    assert all(r["agreement"] is None for r in human)  # one rating says nothing of agreement


@pytest.mark.parametrize(
    ("query", "code"),
    [("?format=xml", "bad_format"), ("?include_revoked=maybe", "bad_include_revoked")],
)
def test_bad_parameters_are_400(client_for, researcher, project, labelled, query, code):
    response = client_for(researcher).get(f"/api/v1/projects/{project.pk}/export/labels/{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]


@pytest.mark.parametrize("kind", ["labels", "ratings"])
def test_roles(kind, project, rater, outsider, admin, labelled):
    url = f"/api/v1/projects/{project.pk}/export/{kind}/"
    for user, expected in ((rater, 403), (outsider, 404), (admin, 200)):
        client = Client()
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == expected, (user, response.status_code)
        if expected != 200:
            assert set(response.json()) >= {"detail", "code"}


def test_export_labels_command_writes_a_file(project, labelled, tmp_path):
    out = tmp_path / "labels.json"
    call_command("export_labels", project.name, "--out", str(out))
    rows = json.loads(out.read_text())
    assert len(rows) == 6
    assert not (tmp_path / "labels.json.partial").exists()
    ratings = tmp_path / "ratings.csv"
    call_command("export_labels", project.name, "--out", str(ratings), "--ratings")
    assert len(pd.read_csv(ratings)) == 4


def test_export_labels_command_unknown_project(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no project named"):
        call_command("export_labels", "nope", "--out", "-")


def test_large_export_runs_in_chunks(project, media_root, django_assert_max_num_queries):
    """Queries grow with chunks, not rows: 50 human-labelled clips in chunks of 20."""
    from annotate.services.export import label_rows

    clips = make_clips(project, 50)
    for clip in clips:
        for target in ("arousal", "valence"):
            Label.objects.create(clip=clip, target=target, value=0.1, source="human", n_ratings=1)
    # targets, rater noise, excluded raters, the rows, and one ratings query per chunk
    with django_assert_max_num_queries(4 + 100 // 20 + 1):
        rows = list(label_rows(project=project, chunk_size=20))
    assert len(rows) == 100
