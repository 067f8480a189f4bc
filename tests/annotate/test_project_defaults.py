"""A new project starts with the features, scaling and regressor that won on development
speakers over the shared corpora, acted and natural (docs/features.md, issue 14)."""

import pytest

from learner.features import get_extractor
from learner.regressors import make_regressor
from tests.conftest import make_project


@pytest.mark.django_db
def test_a_new_project_starts_with_the_measured_defaults():
    project = make_project("defaults")
    assert (project.feature_extractor, project.feature_normalisation, project.regressor) == (
        "compare16k",
        "none",
        "linear_clipped",
    )
    assert get_extractor(project.feature_extractor).cache_key.startswith("compare16k")
    assert make_regressor(project.regressor) is not None
