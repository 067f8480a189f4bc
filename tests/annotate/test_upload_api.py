"""Uploads through the API: staff only, every file reported, huge files refused."""

import io

import numpy as np
import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.models import Clip

pytestmark = pytest.mark.django_db


def wav(freq=300.0):
    buffer = io.BytesIO()
    sf.write(buffer, 0.2 * np.sin(np.arange(8000) * freq / 16000 * 2 * np.pi), 16000, format="WAV")
    return SimpleUploadedFile(f"{freq:.0f}.wav", buffer.getvalue(), content_type="audio/wav")


def upload(client, project, files):
    return client.post(f"/api/v1/projects/{project.pk}/clips/", {"file": files}, format="multipart")


def test_researcher_uploads_and_gets_a_report(client_for, researcher, project, media_root):
    response = upload(
        client_for(researcher),
        project,
        [wav(300), wav(400), SimpleUploadedFile("bad.wav", b"not audio at all")],
    )
    assert response.status_code == 201
    body = response.json()
    # Stored in an order keyed by SECRET_KEY (ids do not follow the upload's order).
    assert sorted(c["name"] for c in body["created"]) == ["300.wav", "400.wav"]
    assert body["errors"][0]["name"] == "bad.wav"
    assert "not a readable audio file" in body["errors"][0]["reason"]
    assert Clip.objects.filter(project=project).count() == 2


def test_a_corrupt_only_upload_is_400_and_stores_nothing(client_for, admin, project, media_root):
    response = upload(
        client_for(admin), project, [SimpleUploadedFile("x.mp3", b"\xff\xfb" + b"0" * 99)]
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["name"] == "x.mp3"
    assert Clip.objects.count() == 0


def test_huge_upload_is_413_with_the_limit(client_for, researcher, project, media_root, settings):
    settings.CONCORD_MAX_UPLOAD_BYTES = 1000
    response = upload(client_for(researcher), project, [wav()])
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert Clip.objects.count() == 0


def test_rater_may_not_upload_and_outsider_sees_no_project(client_for, rater, outsider, project):
    assert upload(client_for(rater), project, [wav()]).status_code == 403
    assert upload(client_for(outsider), project, [wav()]).status_code == 404


def test_upload_without_files_is_400(client_for, researcher, project):
    response = client_for(researcher).post(
        f"/api/v1/projects/{project.pk}/clips/", {}, format="multipart"
    )
    assert response.status_code == 400
    assert "file" in response.json()["detail"]
