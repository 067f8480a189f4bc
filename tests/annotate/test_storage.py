"""Audio goes through the storage API only: with an in-memory storage standing in for S3
(no filesystem path exists), a clip is imported, its features extracted and its audio
served, and nothing of it lands under MEDIA_ROOT."""

import io
import os
import uuid

import numpy as np
import pytest
import soundfile as sf
from django.core.files.storage import InMemoryStorage, default_storage
from django.utils._os import safe_join

from annotate.models import Clip, ClipFeatures
from annotate.services.features import clip_features_extract
from annotate.services.ingest import files_import
from tests.conftest import make_project, make_user

pytestmark = pytest.mark.django_db


class ObjectStorage(InMemoryStorage):
    """Like S3: names, no paths. Counts what is opened and saved."""

    opened: list[str] = []
    saved: list[str] = []

    def path(self, name: str) -> str:
        raise NotImplementedError(f"no filesystem path for {name}: this storage is not local")

    def _relative_path(self, name):
        return os.path.relpath(safe_join(self.location, name), self.location)

    def _open(self, name, mode="rb"):
        type(self).opened.append(name)
        return super()._open(name, mode)

    def _save(self, name, content):
        stored = super()._save(name, content)
        type(self).saved.append(stored)
        return stored


@pytest.fixture
def object_storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.ObjectStorage"},
    }
    ObjectStorage.opened, ObjectStorage.saved = [], []
    assert isinstance(default_storage, ObjectStorage)
    return settings.MEDIA_ROOT


def write_voice(path, *, sr=44100, seconds=1.2):
    t = np.arange(int(sr * seconds)) / sr
    pitch = 180 + 40 * np.sin(2 * np.pi * 3 * t)
    signal = 0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / sr) * (0.6 + 0.4 * np.sin(2 * np.pi * t))
    sf.write(path, np.column_stack([signal, signal]), sr)
    return path


def test_import_features_and_serving_never_touch_a_path(object_storage, tmp_path, client_for):
    project = make_project(min_raters=1)
    source = tmp_path / "in"
    source.mkdir()
    for i in range(2):
        write_voice(source / f"talk-{i}.wav", seconds=1.0 + 0.2 * i)

    report = files_import(project=project, paths=[source])
    assert report.errors == []
    clips = list(Clip.objects.filter(project=project).order_by("pk"))
    assert len(clips) == 2
    assert sorted(ObjectStorage.saved) == sorted(clip.audio.name for clip in clips)
    assert all(default_storage.exists(clip.audio.name) for clip in clips)
    media = object_storage
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))

    assert clip_features_extract(clip_ids=[clip.pk for clip in clips]) == 2
    assert ClipFeatures.objects.filter(clip__project=project).count() == 2
    assert set(ObjectStorage.opened) == {clip.audio.name for clip in clips}
    vector = np.frombuffer(bytes(ClipFeatures.objects.first().values), dtype="<f4")
    assert vector.size > 0
    assert np.isfinite(vector).all()

    # Served to a researcher and to the rater holding the lease, from the storage.
    researcher = make_user("rosa", "researcher", [project])
    response = client_for(researcher).get(f"/api/v1/clips/{clips[0].pk}/audio/")
    assert response.status_code == 200
    served = b"".join(response.streaming_content)
    with default_storage.open(clips[0].audio.name, "rb") as handle:
        assert served == handle.read()
    audio, sr = sf.read(io.BytesIO(served))
    assert sr == 16000
    assert audio.ndim == 1

    rater = make_user("rita", "rater", [project])
    client = client_for(rater)
    lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
    response = client.get(f"/api/v1/assignments/{lease['assignment']['id']}/audio/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:4] == b"RIFF"
    rated = client.post(
        f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
        {"values": {"arousal": 0.2, "valence": -0.1}, "client_token": uuid.uuid4().hex},
        format="json",
    )
    assert rated.status_code == 201
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))
