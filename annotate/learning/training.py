"""Labelled clips -> a candidate model, compared with the active one, and promotion."""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from annotate.learning.config import learner_config
from annotate.learning.features import extractor_key, feature_cache, normalisations_to_try
from annotate.learning.scoring import bundle_load
from annotate.models import Clip, Label, LabelSource, ModelVersion, Project
from learner.training import Candidate, LabelledSet, choose_on_dev, train_candidate

__all__ = ["Candidate", "candidate_train", "labelled_set"]


def labelled_set(project: Project, *, normalisation: str | None = None) -> LabelledSet:
    """Every clip with a live label (human or machine) and features, as arrays; features
    scaled by `normalisation` (default: the first the project tries)."""
    targets = list(project.targets.values_list("name", flat=True))
    labels = Label.objects.filter(clip__project=project, revoked_at__isnull=True).values_list(
        "clip_id", "target", "value", "source", "agreement"
    )
    by_clip: dict[int, dict[str, Any]] = {}
    for clip_id, target, value, source, agreement in labels:
        entry = by_clip.setdefault(clip_id, {"values": {}, "human": False, "agreement": []})
        entry["values"][target] = value
        entry["human"] |= source == LabelSource.HUMAN
        if agreement is not None:
            entry["agreement"].append(agreement)
    # Normalised over every clip of the project, labelled or not.
    kept, X = feature_cache.rows(
        project_id=project.pk,
        extractor_key=extractor_key(project),
        normalisation=normalisation or normalisations_to_try(project)[0],
        clip_ids=sorted(by_clip),
    )
    kept_ids = kept.tolist()
    speakers = dict(Clip.objects.filter(pk__in=kept_ids).values_list("id", "speaker"))
    return LabelledSet.build(
        clip_ids=kept,
        X=X,
        y=np.array(
            [[by_clip[c]["values"].get(t, np.nan) for t in targets] for c in kept_ids],
            dtype=np.float64,
        ).reshape(len(kept_ids), len(targets)),
        agreement=np.array(
            [
                np.mean(by_clip[c]["agreement"]) if by_clip[c]["agreement"] else np.nan
                for c in kept_ids
            ]
        ),
        # Unknown speakers count as their own group, so splits stay speaker-independent.
        groups=np.array([speakers[c] or f"clip-{c}" for c in kept_ids], dtype=object),
        human=np.array([by_clip[c]["human"] for c in kept_ids], dtype=bool),
    )


def candidate_train(
    *, project: Project, progress: Callable[[float], None] | None = None
) -> Candidate:
    """Train a candidate on the project's labels and compare it with the active model on
    the project's development speakers (learner.training.train_candidate). Raises
    ValueError with too few labels.

    With the project's normalisation "auto", the features' normalisation is chosen
    first, on the same development speakers (learner.training.choose_on_dev)."""
    config = learner_config(project)
    views = {
        name: labelled_set(project, normalisation=name) for name in normalisations_to_try(project)
    }
    chosen, scores = choose_on_dev(views, config, dev_seed=project.pk)
    data = views[chosen]
    config = replace(config, feature_normalisation=chosen)
    active = ModelVersion.objects.filter(project=project, is_active=True).first()
    previous = bundle_load(active) if active is not None else None
    active_X = None
    if (
        previous is not None
        and previous.extractor_key == config.extractor_key
        and previous.feature_normalisation != config.feature_normalisation
    ):
        # The same clips (same extractor) as the active model sees them.
        _, active_X = feature_cache.rows(
            project_id=project.pk,
            extractor_key=previous.extractor_key,
            normalisation=previous.feature_normalisation,
            clip_ids=data.clip_ids,
        )
    candidate = train_candidate(
        data,
        config,
        dev_seed=project.pk,
        active=previous,
        active_X=active_X,
        active_metrics=active.metrics if active is not None else None,
        progress=progress,
    )
    candidate.metrics["feature_normalisation"] = chosen
    if len(views) > 1:
        candidate.metrics["normalisation_dev_ccc"] = {
            name: score if np.isfinite(score) else None for name, score in scores.items()
        }
    return candidate
