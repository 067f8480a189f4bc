"""The one adapter between the database and the learner: rows to arrays and back."""

import numpy as np

from annotate.models import Clip, Label, LabelSource, Project
from annotate.services.features import feature_cache
from learner.features import get_extractor
from learner.raters import human_label_error
from learner.training import LabelledSet, RoundConfig

# Machine labels count for less than human ones when the regressors are retrained.
MACHINE_LABEL_WEIGHT = 0.5


def learner_config(project: Project, *, random_state: int = 0) -> RoundConfig:
    """The project's learner settings. With `machine_labels_as_good_as_humans`, once the
    crowd's noise is known, a machine label must also be as good as a `rater_panel`-rater
    human label of this crowd (learner.raters.human_label_error): the project's error
    bars are upper limits."""
    targets = list(project.targets.all())
    human_error = human_label_error(
        [np.nan if t.rater_noise is None else t.rater_noise for t in targets], project.rater_panel
    )
    cap = np.inf
    if project.machine_labels_as_good_as_humans and human_error is not None:
        cap = human_error
    return RoundConfig(
        targets=tuple(t.name for t in targets),
        regressor=project.regressor,
        target_error=min(project.machine_label_target_error, cap),
        max_self_label_error=min(project.self_label_max_error, cap),
        extractor_key=get_extractor(project.feature_extractor).cache_key,
        feature_normalisation=project.feature_normalisation,
        random_state=random_state,
    )


def labelled_set(project: Project) -> LabelledSet:
    """Every clip with a live label (human or machine) and features, as arrays."""
    targets = list(project.targets.values_list("name", flat=True))
    labels = Label.objects.filter(clip__project=project, revoked_at__isnull=True).values_list(
        "clip_id", "target", "value", "source", "agreement"
    )
    by_clip: dict[int, dict] = {}
    for clip_id, target, value, source, agreement in labels:
        entry = by_clip.setdefault(clip_id, {"values": {}, "human": False, "agreement": []})
        entry["values"][target] = value
        entry["human"] |= source == LabelSource.HUMAN
        if agreement is not None:
            entry["agreement"].append(agreement)
    # Normalised over every clip of the project, labelled or not.
    kept, X = feature_cache.rows(
        project_id=project.pk,
        extractor_key=get_extractor(project.feature_extractor).cache_key,
        normalisation=project.feature_normalisation,
        clip_ids=sorted(by_clip),
    )
    kept_ids = kept.tolist()
    speakers = dict(Clip.objects.filter(pk__in=kept_ids).values_list("id", "speaker"))
    y = np.array(
        [[by_clip[c]["values"].get(t, np.nan) for t in targets] for c in kept_ids], dtype=np.float64
    ).reshape(len(kept_ids), len(targets))
    human = np.array([by_clip[c]["human"] for c in kept_ids], dtype=bool)
    return LabelledSet(
        clip_ids=kept,
        X=X,
        y=y,
        agreement=np.array(
            [
                np.mean(by_clip[c]["agreement"]) if by_clip[c]["agreement"] else np.nan
                for c in kept_ids
            ]
        ),
        # Unknown speakers count as their own group, so splits stay speaker-independent.
        groups=np.array([speakers[c] or f"clip-{c}" for c in kept_ids], dtype=object),
        weight=np.where(human, 1.0, MACHINE_LABEL_WEIGHT),
        human=human,
    )
