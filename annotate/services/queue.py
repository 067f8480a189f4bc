"""Re-ranking the human-query queue between retrainings (the online loop).

After ratings arrive, a bootstrap ridge ensemble is refitted on the human labels and
scores the open pool (annotate.learning.queue); the `human_budget_per_round` clips it is
least sure about are queued for humans, most uncertain first, and the other unrated
clips wait as deferred. While no active model's confidence ranks errors on development
speakers, the queue is a uniform draw of the pool instead (annotate.learning.queue.
active_order): until then, uncertain clips first teach a model less than random ones.
Clips that raters hold or have started keep their place, and machine-labelled clips are
left to the full scoring (annotate.services.scoring).

Once it has run, the refresh owns the open pool's order: each queued clip's priority is
its rank as a share of the queue (1 = most uncertain), rewritten only when it moved by
more than RANK_TOL, and the scoring pass no longer writes the priority of clips it leaves
to humans. A refresh runs when the human-labelled clips have grown by REFRESH_GROWTH
since the last one, or when something else put clips into the open pool
(`queue_refresh_due`).
"""

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from annotate.learning.queue import queue_order
from annotate.models import Clip, ClipState, Label, LabelSource, Project
from annotate.rawsql import update_from_values

logger = logging.getLogger(__name__)
PRIORITY_BATCH = 200
# A priority is only an order: one within this fraction of the stored one is left as it is.
PRIORITY_REL_TOL = 0.02
# The refresh's priorities are ranks (shares of the queue): one within this share of the
# stored rank is left as it is. Refits on a few more labels reshuffle a bootstrap
# ensemble's ranking (synthetic pool, 400 -> 405 labels: Spearman 0.92, 83 % of clips
# moved their uncertainty by over 2 %, 32 % their rank by over a tenth of the queue), so a
# finer order costs a write per clip and pass and buys nothing.
RANK_TOL = 0.1
# A refresh runs once the human-labelled clips have grown by this fraction (at least one).
REFRESH_GROWTH = 0.1


@dataclass(frozen=True)
class QueueRefresh:
    labelled: int
    open_pool: int
    queued: int
    deferred: int


def priority_moved(stored: float | None, new: float) -> bool:
    """Whether a clip's new priority is worth a write (annotate.services.scoring too)."""
    return stored is None or not math.isclose(stored, new, rel_tol=PRIORITY_REL_TOL)


def rank_priorities(uncertainty: Sequence[float]) -> list[float]:
    """Each queued clip's priority: its rank by uncertainty as a share of the queue, from 1
    (the most uncertain) down to 1/n."""
    n = len(uncertainty)
    ranks = [0.0] * n
    for place, i in enumerate(sorted(range(n), key=lambda i: -uncertainty[i])):
        ranks[i] = (n - place) / n
    return ranks


def rank_moved(stored: float | None, new: float) -> bool:
    """Whether a clip's rank moved enough to be rewritten."""
    return stored is None or abs(stored - new) > RANK_TOL


def queue_refresh_due(*, project_ids: Sequence[int]) -> None:
    """Let the next refresh run whatever the labels' growth: clips entered the open pool
    outside it (a scoring pass took back a machine label, a model was revoked)."""
    Project.objects.filter(pk__in=project_ids).update(queue_refreshed_labelled=None)


def _human_labelled(project: Project) -> int:
    return (
        Label.objects.filter(
            clip__project=project, source=LabelSource.HUMAN, revoked_at__isnull=True
        )
        .values("clip_id")
        .distinct()
        .count()
    )


def queue_refresh(*, project_id: int, requested_at: datetime | None = None) -> QueueRefresh | None:
    """Re-rank the open pool by ensemble uncertainty; None until enough human labels, and
    while the human-labelled clips have grown by less than REFRESH_GROWTH since the last
    refresh.

    `requested_at` lets a burst of ratings share one refresh: a request made before the
    data of the last refresh was read is already served by it.
    """
    started = timezone.now()
    project = Project.objects.get(pk=project_id)
    if requested_at and project.queue_refreshed_at and project.queue_refreshed_at >= requested_at:
        return None
    labelled = _human_labelled(project)
    last = project.queue_refreshed_labelled
    if last is not None and labelled < last + max(1, math.ceil(REFRESH_GROWTH * last)):
        return None
    order = queue_order(project=project)
    if order is None:
        return None
    if not order.open_ids.size:
        return QueueRefresh(order.labelled, 0, 0, 0)
    queued_ids = order.queued_ids.tolist()
    deferred = (
        Clip.objects.filter(
            project=project, state=ClipState.AWAITING_HUMANS, n_ratings=0, active_leases=0
        )
        .exclude(pk__in=queued_ids)
        .update(state=ClipState.DEFERRED, ratings_wanted=0, priority=0.0)
    )
    # Only the ranks that moved: every write leaves a dead row version in the clip table
    # and its queue index, and a pass every few seconds over thousands of clips filled
    # the head of the queue with them faster than autovacuum cleared them, so each
    # rater's next clip scanned past tens of thousands (bench.load, 4 no-pause raters:
    # 39,367 dead rows for 4,000 clips in 40 s).
    current = dict(
        Clip.objects.filter(project=project, state=ClipState.AWAITING_HUMANS).values_list(
            "id", "priority"
        )
    )
    updates = [
        (clip_id, rank)
        for clip_id, rank in zip(queued_ids, rank_priorities(order.priority.tolist()), strict=True)
        if rank_moved(current.get(clip_id), rank)
    ]
    # A batch at a time, each committed at once: one transaction over the whole pool held
    # every open clip's row lock until it ended, and raters asking for a clip waited for
    # it (bench.load: next at p50 640 ms with 4 raters). A priority is only an order, so a
    # queue half re-ranked for a moment serves nobody wrong. A clip a rating holds locked
    # is skipped (it has left the fresh pool): waiting for it held the batch's other rows,
    # and the ratings of those clips waited in turn.
    for start in range(0, len(updates), PRIORITY_BATCH):
        with transaction.atomic():
            update_from_values(
                Clip,
                {"priority": "DOUBLE PRECISION"},
                updates[start : start + PRIORITY_BATCH],
                skip_locked=True,
            )
    Clip.objects.filter(pk__in=queued_ids, state=ClipState.DEFERRED).update(
        state=ClipState.AWAITING_HUMANS, ratings_wanted=project.min_raters
    )
    Project.objects.filter(pk=project.pk).update(
        queue_refreshed_at=started, queue_refreshed_labelled=labelled
    )
    return QueueRefresh(order.labelled, int(order.open_ids.size), len(queued_ids), deferred)
