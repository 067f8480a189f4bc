"""Importing the real shared corpora (skipped when ../shared/data is absent)."""

import csv

import pytest

from annotate.models import Clip, Project, ReferenceLabel
from annotate.services.ingest import corpus_import
from tests.conftest import shared_corpus

pytestmark = [pytest.mark.shared_data, pytest.mark.django_db]


def test_emodb_imports_with_references_and_no_label_in_rater_fields(media_root):
    corpus = shared_corpus("emodb")
    with (corpus / "clips.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    report = corpus_import(corpus_dir=corpus, project_name="emodb")
    assert report.errors == []
    assert len(report.created) + len(report.skipped) == len(rows)
    project = Project.objects.get(name="emodb")
    assert {t.name for t in project.targets.all()} == {"arousal", "valence", "dominance"}
    clip = Clip.objects.get(external_id=rows[0]["clip_id"])
    assert clip.metadata["category"] == rows[0]["category"]
    assert clip.speaker == rows[0]["speaker"]
    assert ReferenceLabel.objects.filter(clip=clip).count() == 3
    assert clip.original_sample_rate == 16000
