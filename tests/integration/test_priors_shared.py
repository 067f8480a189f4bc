"""A prior from RAVDESS for an EmoDB project, on the real shared corpora (skipped when
../shared/data is absent): zero labels in EmoDB, and yet the queue is ranked by a model
that knows arousal."""

import numpy as np
import pytest
from django.core.management import call_command

from annotate.learning.features import feature_cache
from annotate.learning.scoring import bundle_load
from annotate.models import Clip, Label, LabelSource, ModelVersion, Prior, ReferenceLabel
from annotate.services.scoring import project_score
from learner.metrics import ccc
from tests.conftest import shared_corpus

pytestmark = [pytest.mark.shared_data, pytest.mark.django_db]


def test_a_ravdess_prior_knows_emodb_arousal_before_any_rating(media_root):
    ravdess, emodb = shared_corpus("ravdess"), shared_corpus("emodb")
    call_command("train_prior", str(ravdess), "--name", "ravdess", verbosity=0)
    prior = Prior.objects.get(name="ravdess")
    assert set(prior.targets) == {"arousal", "valence", "dominance"}
    call_command(
        "import_corpus", str(emodb), "--project", "emodb", "--prior", "ravdess", verbosity=0
    )
    version = ModelVersion.objects.get(project__name="emodb", is_active=True)
    assert version.metrics["zero_shot"] is True

    report = project_score(project_id=version.project_id)
    assert report.machine_labelled == 0
    assert not Label.objects.filter(source=LabelSource.MACHINE).exists()
    # Zero-shot, measured against EmoDB's own gold (which no model ever saw).
    bundle = bundle_load(version)
    ids, X = feature_cache.matrix(
        project_id=version.project_id,
        extractor_key=bundle.extractor_key,
        normalisation=bundle.feature_normalisation,
    )
    predicted = bundle.predict(X).values
    gold = dict(
        ReferenceLabel.objects.filter(
            clip__project_id=version.project_id, target="arousal"
        ).values_list("clip_id", "value")
    )
    arousal = bundle.targets.index("arousal")
    rows = [i for i, clip_id in enumerate(ids.tolist()) if clip_id in gold]
    zero_shot = ccc(np.array([gold[int(ids[i])] for i in rows]), predicted[rows, arousal])
    # A quick check gave 0.43-0.63 from RAVDESS to EmoDB; well above chance is the bar.
    assert zero_shot > 0.3, zero_shot
    queued = Clip.objects.filter(project_id=version.project_id, state="awaiting_humans")
    assert queued.exists()
