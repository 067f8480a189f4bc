"""A project's backup folder (annotate.services.backup), on the default test database: a
project deleted by mistake comes back from its backup with every row and file."""

import uuid

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotate.models import Clip, ClipFeatures, Label, Project, Rating, ReferenceLabel
from tests.conftest import make_clips, make_project, make_user

pytestmark = pytest.mark.django_db


def snapshot(project_name: str) -> dict[str, list]:
    project = Project.objects.get(name=project_name)
    clips = Clip.objects.filter(project=project).order_by("pk")
    return {
        "project": list(Project.objects.filter(pk=project.pk).values()),
        "members": sorted(project.members.values_list("username", flat=True)),
        "clips": list(clips.values()),
        "reference": list(ReferenceLabel.objects.filter(clip__in=clips).order_by("pk").values()),
        "features": [
            (f.clip_id, bytes(f.values))
            for f in ClipFeatures.objects.filter(clip__in=clips).order_by("pk")
        ],
        "ratings": list(
            Rating.objects.filter(clip__in=clips)
            .order_by("pk")
            .values("id", "clip_id", "rater__username", "values", "client_token", "created_at")
        ),
        "labels": list(Label.objects.filter(clip__in=clips).order_by("pk").values()),
        "audio": [clip.audio.read() for clip in clips],
    }


def test_a_deleted_project_comes_back_from_its_backup(media_root, tmp_path, client_for):
    project = make_project(min_raters=1)
    clips = make_clips(project, 3)
    ClipFeatures.objects.create(
        clip=clips[0], extractor_key="k", values=np.arange(4, dtype="<f4").tobytes(), n_features=4
    )
    rater = make_user("rita", "rater", [project])
    client = client_for(rater)
    for _ in range(2):
        lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
        response = client.post(
            f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
            {"values": {"arousal": 0.3, "valence": -0.2}, "client_token": uuid.uuid4().hex},
            format="json",
        )
        assert response.status_code == 201
    before = snapshot(project.name)
    assert len(before["ratings"]) == 2
    assert before["labels"]

    folder = tmp_path / "backup"
    call_command("backup_project", project.name, "--out", str(folder))
    with pytest.raises(CommandError, match="not empty"):
        call_command("backup_project", project.name, "--out", str(folder))
    with pytest.raises(CommandError, match="already exists"):
        call_command("restore_project", str(folder))

    for clip in clips:
        clip.audio.delete(save=False)
    project.delete()
    assert not Rating.objects.exists()
    call_command("restore_project", str(folder))
    assert snapshot(project.name) == before
    # The id sequences moved past the restored rows: new rows still go in.
    later = make_clips(make_project("later"), 1, start_freq=990.0)[0]
    assert later.pk > max(clip.pk for clip in clips)


def test_a_damaged_backup_is_refused(media_root, tmp_path):
    project = make_project()
    make_clips(project, 1)
    folder = tmp_path / "backup"
    call_command("backup_project", project.name, "--out", str(folder))
    project.delete()
    audio = next((folder / "media").rglob("*.wav"))
    audio.write_bytes(audio.read_bytes()[:-10])
    with pytest.raises(CommandError, match="damaged"):
        call_command("restore_project", str(folder))
    assert not Project.objects.exists()
