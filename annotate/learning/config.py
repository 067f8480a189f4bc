"""A project's learner settings."""

import numpy as np

from annotate.learning.features import extractor_key, normalisation_in_use
from annotate.models import Project
from learner.training import RoundConfig, machine_label_bars


def learner_config(project: Project, *, random_state: int = 0) -> RoundConfig:
    """The project's learner settings. With `machine_labels_as_good_as_humans`, once the
    crowd's noise is known, a machine label must also be as good as a `rater_panel`-rater
    human label of this crowd (learner.training.machine_label_bars): the project's error
    bars are upper limits."""
    targets = list(project.targets.all())
    target_error, max_self_label_error = machine_label_bars(
        target_error=project.machine_label_target_error,
        max_self_label_error=project.self_label_max_error,
        crowd_noise=[np.nan if t.rater_noise is None else t.rater_noise for t in targets],
        panel=project.rater_panel,
        as_good_as_humans=project.machine_labels_as_good_as_humans,
    )
    return RoundConfig(
        targets=tuple(t.name for t in targets),
        regressor=project.regressor,
        target_error=target_error,
        max_self_label_error=max_self_label_error,
        extractor_key=extractor_key(project),
        feature_normalisation=normalisation_in_use(project),
        random_state=random_state,
    )
