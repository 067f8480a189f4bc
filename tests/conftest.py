"""Shared fixtures: a cast of users, a project with clips, and API clients.

The cast follows the healthchecks pattern: `rater` and `other_rater` rate,
`researcher` runs the project, `admin` sees everything, and `outsider` is a
researcher of another project who must see nothing of this one.
"""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_corpus(name: str) -> Path:
    """A corpus folder of ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not (path / "clips.csv").is_file():
        pytest.skip(f"shared corpus {name!r} not found at {path} (../shared/data is absent)")
    return path


def clip_writes(monkeypatch, module) -> list[list[tuple]]:
    """The rows each `update_from_values` call of `module` writes, as it writes them."""
    written: list[list[tuple]] = []
    real = module.update_from_values

    def recording(model, columns, rows, **kwargs):
        written.append(rows)
        return real(model, columns, rows, **kwargs)

    monkeypatch.setattr(module, "update_from_values", recording)
    return written


def tone_wav(seconds: float = 1.0, freq: float = 220.0, sr: int = 16000) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * np.sin(2 * np.pi * freq * t), sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_user(username: str, role: str, projects=()):
    from django.contrib.auth import get_user_model

    from annotate.models import RaterProfile

    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    RaterProfile.objects.create(user=user, role=role)
    for project in projects:
        project.members.add(user)
    return user


def make_project(name: str = "study", **fields):
    from annotate.models import Project, Target

    project = Project.objects.create(name=name, **fields)
    Target.objects.create(
        project=project, name="arousal", anchor_low="calm", anchor_high="excited", position=0
    )
    Target.objects.create(
        project=project, name="valence", anchor_low="negative", anchor_high="positive", position=1
    )
    return project


def make_clips(project, n: int, *, start_freq: float = 200.0):
    from django.core.files.base import ContentFile

    from annotate.models import Clip, ClipState

    clips = []
    for i in range(n):
        data = tone_wav(freq=start_freq + 10 * i)
        sha = hashlib.sha256(data).hexdigest()
        clip = Clip(
            project=project,
            external_id=f"corpus-{i:03d}",
            sha256=sha,
            duration_s=1.0,
            original_sample_rate=16000,
            original_name=f"angry_{i}.wav",
            speaker=f"s{i % 3}",
            metadata={"category": "anger"},
            state=ClipState.AWAITING_HUMANS,
            ratings_wanted=project.min_raters,
        )
        clip.audio.save(f"{sha}.wav", ContentFile(data), save=False)
        clip.save()
        clips.append(clip)
    return clips


def featured_project(*, n_clips: int, n_labelled: int, seed: int, **fields):
    """A project of `n_clips` clips on 6 speakers with 16 random features each; the first
    `n_labelled` are rated, with human labels that follow their first two features.
    Returns (project, clips, features)."""
    from annotate.models import Clip, ClipFeatures, ClipState, Label
    from learner.features import get_extractor

    project = make_project(**fields)
    key = get_extractor(project.feature_extractor).cache_key
    clips = make_clips(project, n_clips)
    X = np.random.default_rng(seed).normal(size=(n_clips, 16)).astype("<f4")
    for i, clip in enumerate(clips):
        clip.speaker = f"s{i % 6}"
        clip.save(update_fields=["speaker"])
        ClipFeatures.objects.create(
            clip=clip, extractor_key=key, values=X[i].tobytes(), n_features=16
        )
        if i < n_labelled:
            for t, target in enumerate(("arousal", "valence")):
                Label.objects.create(
                    clip=clip,
                    target=target,
                    value=float(np.tanh(X[i, t])),
                    source="human",
                    n_ratings=2,
                    agreement=0.9,
                )
            Clip.objects.filter(pk=clip.pk).update(state=ClipState.RATED, n_ratings=2)
    return project, clips, X


@pytest.fixture
def project(db):
    return make_project()


@pytest.fixture
def clips(project, media_root):
    return make_clips(project, 4)


@pytest.fixture
def rater(project):
    return make_user("rita", "rater", [project])


@pytest.fixture
def other_rater(project):
    return make_user("otto", "rater", [project])


@pytest.fixture
def researcher(project):
    return make_user("rosa", "researcher", [project])


@pytest.fixture
def admin(db):
    return make_user("ada", "admin")


@pytest.fixture
def outsider(db):
    other = make_project("other-study")
    return make_user("oscar", "researcher", [other])


@pytest.fixture
def client_for():
    from rest_framework.test import APIClient

    def build(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return build


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttles and sign-in lockouts count in Django's cache: each test starts at zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
