"""Re-ranking the human-query queue between retrainings (the online loop).

After ratings arrive, a bootstrap ridge ensemble (learner.online) is refitted on the
human labels and scores the open pool; the `human_budget_per_round` clips it is least
sure about are queued for humans, most uncertain first, and the other unrated clips
wait as deferred. Clips that raters hold or have started keep their place, and
machine-labelled clips are left to the full scoring (annotate.services.scoring).
"""

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotate.models import Clip, ClipState, Label, LabelSource, Project
from annotate.services.features import feature_cache
from learner.features import get_extractor
from learner.online import RidgeEnsemble, top_uncertain

logger = logging.getLogger(__name__)

MIN_LABELLED = 10


@dataclass(frozen=True)
class QueueRefresh:
    labelled: int
    open_pool: int
    queued: int
    deferred: int


def _open_pool_filter() -> Q:
    fresh = Q(state=ClipState.AWAITING_HUMANS, n_ratings=0, active_leases=0)
    return fresh | Q(state=ClipState.DEFERRED)


def queue_refresh(*, project_id: int, requested_at: datetime | None = None) -> QueueRefresh | None:
    """Re-rank the open pool by ensemble uncertainty; None until enough human labels.

    `requested_at` lets a burst of ratings share one refresh: a request made before the
    data of the last refresh was read is already served by it.
    """
    started = timezone.now()
    project = Project.objects.get(pk=project_id)
    if requested_at and project.queue_refreshed_at and project.queue_refreshed_at >= requested_at:
        return None
    targets = list(project.targets.values_list("name", flat=True))
    clip_ids, X = feature_cache.matrix(
        project_id=project.pk,
        extractor_key=get_extractor(project.feature_extractor).cache_key,
        normalisation=project.feature_normalisation,
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
        Clip.objects.filter(_open_pool_filter(), project=project).values_list("id", flat=True),
        dtype=np.int64,
    )
    open_ids = open_ids[np.isin(open_ids, clip_ids)]
    if not open_ids.size:
        return QueueRefresh(int(labelled.sum()), 0, 0, 0)
    ensemble = RidgeEnsemble(n_members=5, random_state=0).fit(X[labelled], y[labelled])
    rows = np.array([row_of[int(c)] for c in open_ids])
    uncertainty = ensemble.score_pool(X[rows]).uncertainty()
    top = top_uncertain(uncertainty, project.human_budget_per_round)
    queued_ids = open_ids[top]
    with transaction.atomic():
        deferred = (
            Clip.objects.filter(
                project=project, state=ClipState.AWAITING_HUMANS, n_ratings=0, active_leases=0
            )
            .exclude(pk__in=queued_ids.tolist())
            .update(state=ClipState.DEFERRED, ratings_wanted=0, priority=0.0)
        )
        updates = [
            Clip(pk=int(clip_id), priority=float(uncertainty[i]))
            for clip_id, i in zip(queued_ids, top, strict=True)
        ]
        Clip.objects.bulk_update(updates, ["priority"], batch_size=500)
        Clip.objects.filter(pk__in=queued_ids.tolist(), state=ClipState.DEFERRED).update(
            state=ClipState.AWAITING_HUMANS, ratings_wanted=project.min_raters
        )
        Project.objects.filter(pk=project.pk).update(queue_refreshed_at=started)
    return QueueRefresh(int(labelled.sum()), int(open_ids.size), int(queued_ids.size), deferred)
