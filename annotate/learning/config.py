"""A project's learner settings."""

from annotate.learning.features import extractor_key, normalisation_in_use
from annotate.models import Project
from learner.training import RoundConfig


def learner_config(project: Project, *, random_state: int = 0) -> RoundConfig:
    """The project's learner settings. Its error bars (`machine_label_target_error`, the
    per-clip ceiling `self_label_max_error`) are passed as they are; with
    `machine_labels_as_good_as_humans`, so is the crowd's noise per target and
    `rater_panel`, so that a round also holds machine labels, on each target whose noise
    is known, to the error of a `rater_panel`-rater human label of this crowd
    (learner.training.train_round, human_label_bars)."""
    targets = list(project.targets.all())
    noise = tuple(float("nan") if t.rater_noise is None else float(t.rater_noise) for t in targets)
    return RoundConfig(
        targets=tuple(t.name for t in targets),
        regressor=project.regressor,
        target_error=project.machine_label_target_error,
        max_self_label_error=project.self_label_max_error,
        crowd_noise=noise if project.machine_labels_as_good_as_humans else None,
        rater_panel=project.rater_panel,
        extractor_key=extractor_key(project),
        feature_normalisation=normalisation_in_use(project),
        random_state=random_state,
    )
