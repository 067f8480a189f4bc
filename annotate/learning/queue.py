"""Human labels and the open pool -> the re-ranked human queue (the online loop)."""

from dataclasses import dataclass

import numpy as np
from django.db.models import Q
from numpy.typing import NDArray

from annotate.learning.features import extractor_key, feature_cache, normalisation_in_use
from annotate.models import Clip, ClipState, Label, LabelSource, ModelVersion, Project
from learner.cooperative import QueueOrder as Order
from learner.cooperative import online_queue, uniform_by_id

MIN_LABELLED = 10


def open_pool_filter() -> Q:
    """Clips nobody has started or holds, waiting for humans or deferred."""
    fresh = Q(state=ClipState.AWAITING_HUMANS, n_ratings=0, active_leases=0)
    return fresh | Q(state=ClipState.DEFERRED)


@dataclass(frozen=True)
class QueueOrder:
    """`labelled` clips taught the ensemble; of the `open_ids`, `queued_ids` go to humans
    with `priority` each (most uncertain first)."""

    labelled: int
    open_ids: NDArray[np.int64]
    queued_ids: NDArray[np.int64]
    priority: NDArray[np.float64]


def active_order(project: Project) -> Order:
    """The order the active model gives the human queue (learner.cooperative.QueueOrder,
    chosen on development speakers when it was trained); random without one."""
    metrics = (
        ModelVersion.objects.filter(project=project, is_active=True)
        .values_list("metrics", flat=True)
        .first()
    )
    chosen = metrics.get("queue_order", {}) if isinstance(metrics, dict) else {}
    if metrics is not None and not chosen:
        return Order.UNCERTAINTY  # a model from before the choice
    return Order(chosen.get("order", Order.RANDOM))


def queue_order(*, project: Project) -> QueueOrder | None:
    """The open pool ranked by ensemble uncertainty, or in a random order (the same for
    a clip from one refresh to the next, `uniform_by_id`) while no active model's
    confidence ranks errors on development speakers (`active_order`); None until
    `MIN_LABELLED` clips have human labels (or while no clip has features)."""
    targets = list(project.targets.values_list("name", flat=True))
    clip_ids, X = feature_cache.matrix(
        project_id=project.pk,
        extractor_key=extractor_key(project),
        normalisation=normalisation_in_use(project),
    )
    if not clip_ids.size:
        return None
    row_of = {int(c): i for i, c in enumerate(clip_ids)}
    y = np.full((clip_ids.size, len(targets)), np.nan)
    labelled = np.zeros(clip_ids.size, dtype=bool)
    for clip_id, target, value in Label.objects.filter(
        clip__project=project, source=LabelSource.HUMAN, revoked_at__isnull=True
    ).values_list("clip_id", "target", "value"):
        if (row := row_of.get(clip_id)) is not None and target in targets:
            y[row, targets.index(target)] = value
            labelled[row] = True
    if labelled.sum() < MIN_LABELLED:
        return None
    open_ids = np.array(
        Clip.objects.filter(open_pool_filter(), project=project).values_list("id", flat=True),
        dtype=np.int64,
    )
    open_ids = open_ids[np.isin(open_ids, clip_ids)]
    nothing = np.zeros(0, dtype=np.int64)
    if not open_ids.size:
        return QueueOrder(int(labelled.sum()), open_ids, nothing, np.zeros(0))
    budget = project.human_budget_per_round
    if active_order(project) == Order.RANDOM:
        draw = uniform_by_id(open_ids, seed=project.pk)
        queued = np.argsort(-draw, kind="stable")[: max(0, budget)]
        return QueueOrder(int(labelled.sum()), open_ids, open_ids[queued], draw[queued])
    rows = np.array([row_of[int(c)] for c in open_ids])
    plan = online_queue(X[labelled], y[labelled], X[rows], budget=budget)
    return QueueOrder(
        labelled=int(labelled.sum()),
        open_ids=open_ids,
        queued_ids=open_ids[plan.queued],
        priority=plan.uncertainty[plan.queued],
    )
