"""The active model on the pool -> machine labels, revocations and the human queue."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from numpy.typing import NDArray

from annotate.learning.features import feature_cache
from annotate.models import Label, ModelVersion, Project
from learner.cooperative import Action, QueueOrder, ScoringPlan, scoring_plan, uniform_by_id
from learner.training import BundleScores, TrainedBundle

__all__ = ["Action", "PoolScores", "ScoringPlan", "bundle_load", "pool_plan", "pool_scores"]


def bundle_load(version: ModelVersion) -> TrainedBundle:
    """The model bundle a version's row points to, from MEDIA_ROOT."""
    return TrainedBundle.load(Path(settings.MEDIA_ROOT) / version.artifact)


@dataclass(frozen=True)
class PoolScores:
    """The active model's scores of `clip_ids`, per target of `targets`."""

    version: ModelVersion
    self_label_threshold: float
    targets: tuple[str, ...]
    clip_ids: NDArray[np.int64]
    scores: BundleScores
    # How the model orders the clips it leaves to people (TrainedBundle.queue_order).
    order: QueueOrder = QueueOrder.UNCERTAINTY


def pool_scores(*, project: Project, version: ModelVersion, clip_ids: set[int]) -> PoolScores:
    """Score those of `clip_ids` that have features with `version`, on the features it
    learned on (its extractor and normalisation)."""
    bundle = bundle_load(version)
    all_ids, all_X = feature_cache.matrix(
        project_id=project.pk,
        extractor_key=bundle.extractor_key,
        normalisation=bundle.feature_normalisation,
    )
    keep = np.array([int(c) in clip_ids for c in all_ids], dtype=bool)
    X = all_X[keep]
    n_targets = len(bundle.targets)
    empty = np.zeros((0, n_targets))
    scores = bundle.predict(X) if len(X) else BundleScores(empty, empty.copy(), np.zeros(0))
    return PoolScores(
        version=version,
        self_label_threshold=bundle.self_label_threshold,
        targets=bundle.targets,
        clip_ids=all_ids[keep],
        scores=scores,
        order=bundle.queue_order,
    )


def pool_plan(
    *, project: Project, pool: PoolScores, live: dict[tuple[int, str], Label]
) -> ScoringPlan:
    """`learner.cooperative.scoring_plan` for the scored clips, given their live machine
    labels `{(clip_id, target): Label}` and the project's bars, budget and raters."""
    scales = {
        name: (low, high)
        for name, low, high in project.targets.values_list("name", "scale_min", "scale_max")
    }
    live_values = np.array(
        [
            [live[(c, t)].value if (c, t) in live else np.nan for t in pool.targets]
            for c in pool.clip_ids.tolist()
        ],
        dtype=np.float64,
    ).reshape(len(pool.clip_ids), len(pool.targets))
    return scoring_plan(
        values=pool.scores.values,
        expected_error=pool.scores.expected_error,
        agreement=pool.scores.agreement,
        live_machine_labels=live_values,
        self_label_threshold=min(pool.self_label_threshold, project.self_label_max_error),
        revoke_tolerance=project.machine_label_revoke_tolerance,
        human_budget=project.human_budget_per_round,
        min_raters=project.min_raters,
        max_raters=project.max_raters,
        scale_min=np.array([scales.get(t, (-1.0, 1.0))[0] for t in pool.targets]),
        scale_max=np.array([scales.get(t, (-1.0, 1.0))[1] for t in pool.targets]),
        order=pool.order,
        random_priority=uniform_by_id(pool.clip_ids, seed=project.pk),
    )
