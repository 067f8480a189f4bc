"""A project's labelled clips as the learner's arrays."""

from typing import Any

import numpy as np

from annotate.learning.features import extractor_key, feature_cache, normalisations_to_try
from annotate.models import Clip, Label, LabelSource, Project
from learner.training import LabelledSet

__all__ = ["labelled_set"]


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
