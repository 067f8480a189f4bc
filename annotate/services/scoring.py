"""Acting on a promoted model: machine labels, revocations and the human queue.

For every clip without human ratings, the active model's calibrated expected error
decides (annotate.learning.scoring, learner.cooperative.scoring_plan): confident clips
get machine labels with provenance, informative ones go to humans with a priority and a
number of raters to start with, the rest are deferred. A live machine label that the
new model contradicts by more than the project's tolerance is revoked first.

Once the queue refresh has run, it owns the open pool's order (annotate.services.queue):
the two passes ranked on different scales and each rewrote what the other had written.
"""

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from annotate.learning.scoring import Action, PoolScores, ScoringPlan, pool_plan, pool_scores
from annotate.models import Clip, ClipState, Label, LabelSource, ModelVersion, Project
from annotate.rawsql import update_from_values
from annotate.services.features import project_features_ensure
from annotate.services.queue import priority_moved, queue_refresh, queue_refresh_due

logger = logging.getLogger(__name__)

CLIP_STATE = {
    Action.SELF_LABEL: ClipState.MACHINE_LABELLED,
    Action.ASK_HUMANS: ClipState.AWAITING_HUMANS,
    Action.DEFER: ClipState.DEFERRED,
}


@dataclass(frozen=True)
class ScoreReport:
    model_version: str
    scored: int
    machine_labelled: int
    queued: int
    deferred: int
    revoked: int


def _scorable(project: Project) -> QuerySet[Clip]:
    # Clips people have started on or hold stay with people.
    return Clip.objects.filter(project=project, n_ratings=0, active_leases=0).filter(
        Q(state__in=[ClipState.AWAITING_HUMANS, ClipState.DEFERRED, ClipState.MACHINE_LABELLED])
    )


@dataclass
class _ClipRows:
    """What a scoring plan writes for one clip: its live machine labels revoked, its new
    machine labels (with provenance), and its state."""

    revoked: list[Label]
    new_labels: list[Label]
    clip: Clip


def _plan_rows(
    plan: ScoringPlan, *, pool: PoolScores, live: dict[tuple[int, str], Label], now: datetime
) -> dict[int, _ClipRows]:
    """The rows a scoring plan changes, per scored clip."""
    name = pool.version.name
    rows = {}
    for i, clip_id in enumerate(pool.clip_ids.tolist()):
        revoked, new_labels = [], []
        for t, target in enumerate(pool.targets):
            if plan.revoke[i, t]:
                old = live[(clip_id, target)]
                old.revoked_at = now
                old.revoked_reason = (
                    f"{name} predicts {plan.values[i, t]:.3f}"
                    if plan.disagrees[i, t]
                    else f"{name} is not confident"
                )
                revoked.append(old)
            if plan.label[i, t]:
                new_labels.append(
                    Label(
                        clip_id=clip_id,
                        target=target,
                        value=float(plan.values[i, t]),
                        source=LabelSource.MACHINE,
                        confidence=float(pool.scores.expected_error[i, t]),
                        model_version=name,
                    )
                )
        decision = plan.decisions[i]
        asks = decision.action == Action.ASK_HUMANS
        clip = Clip(
            pk=clip_id,
            state=CLIP_STATE[decision.action],
            priority=float(decision.priority) if asks else 0.0,
            ratings_wanted=int(decision.n_raters) if asks else 0,
        )
        rows[clip_id] = _ClipRows(revoked, new_labels, clip)
    return rows


def _live_machine_labels(clip_ids: list[int]) -> QuerySet[Label]:
    return Label.objects.filter(
        clip_id__in=clip_ids, source=LabelSource.MACHINE, revoked_at__isnull=True
    )


def _label_keys(labels: Iterable[Label]) -> dict[int, set[tuple[int, float]]]:
    """Per clip, its live machine labels as (id, value): what a plan was made from."""
    keys: dict[int, set[tuple[int, float]]] = {}
    for label in labels:
        keys.setdefault(label.clip_id, set()).add((label.pk, label.value))
    return keys


def _left_to_refresh(clip: Clip, state: str, priority: float, ratings_wanted: int) -> Clip:
    """A scoring pass's update of a clip, once the queue refresh owns the open pool's
    order: a clip the model leaves to people keeps its state and priority (an awaiting
    one still starts with the raters the model asks for), and one it no longer labels
    itself waits deferred for the refresh to rank it."""
    if clip.state == ClipState.MACHINE_LABELLED:
        return clip
    if state == ClipState.MACHINE_LABELLED:
        return Clip(pk=clip.pk, state=ClipState.DEFERRED, priority=0.0, ratings_wanted=0)
    asked = state == ClipState.AWAITING_HUMANS and clip.state == ClipState.AWAITING_HUMANS
    return Clip(
        pk=clip.pk,
        state=state,
        priority=priority,
        ratings_wanted=clip.ratings_wanted if asked else ratings_wanted,
    )


def _moved(clip: Clip, state: str, priority: float, ratings_wanted: int) -> bool:
    return (
        clip.state != state
        or clip.ratings_wanted != ratings_wanted
        or priority_moved(priority, clip.priority)
    )


def project_score(*, project_id: int) -> ScoreReport | None:
    """Score the pool with the active model and apply the cooperative decisions."""
    project = Project.objects.get(pk=project_id)
    version = ModelVersion.objects.filter(project=project, is_active=True).first()
    if version is None:
        return None
    project_features_ensure(project=project)
    pool = pool_scores(
        project=project,
        version=version,
        clip_ids=set(_scorable(project).values_list("id", flat=True)),
    )
    if not pool.clip_ids.size:
        ModelVersion.objects.filter(pk=version.pk).update(scored_at=timezone.now())
        return ScoreReport(version.name, 0, 0, 0, 0, 0)
    clip_ids = pool.clip_ids.tolist()
    now = timezone.now()
    # The plan is made before any row is locked: the worker runs niced, and on a busy
    # machine a plan made under the locks held raters' claims and ratings waiting on it
    # (bench.load run 30). Under the locks, a clip whose live machine labels changed since
    # (an audit, a revoke) is skipped like a clip someone took.
    live = {(label.clip_id, label.target): label for label in _live_machine_labels(clip_ids)}
    planned_from = _label_keys(live.values())
    plan = pool_plan(project=project, pool=pool, live=live)
    rows = _plan_rows(plan, pool=pool, live=live, now=now)
    with transaction.atomic():
        # A version revoked or replaced while it scored writes nothing: the lock on its
        # row orders this against the revoke (annotate.services.revoke).
        if not ModelVersion.objects.select_for_update().filter(pk=version.pk, is_active=True):
            return None
        # Lock the clips nobody took meanwhile; the filter re-checks under the row lock.
        # A clip locked now is being claimed or rated: it is skipped, not waited for
        # (waiting held the rest of the pool locked, and raters' claims waited in turn).
        free = {
            clip_id: (state, priority, ratings_wanted)
            for clip_id, state, priority, ratings_wanted in _scorable(project)
            .filter(pk__in=clip_ids)
            .select_for_update(skip_locked=connection.features.has_select_for_update_skip_locked)
            .values_list("id", "state", "priority", "ratings_wanted")
        }
        # Only the free clips' live machine labels are locked, the ones this pass may
        # revoke (a rater rating another clip of the pool does not wait on this pass).
        locked_labels = _label_keys(_live_machine_labels(list(free)).select_for_update())
        for clip_id in list(free):
            if locked_labels.get(clip_id, set()) != planned_from.get(clip_id, set()):
                del free[clip_id]
        written = [rows[clip_id] for clip_id in clip_ids if clip_id in free]
        revoked = [label for row in written for label in row.revoked]
        new_labels = [label for row in written for label in row.new_labels]
        clip_updates = [row.clip for row in written]
        if project.queue_refreshed_at is not None:
            clip_updates = [_left_to_refresh(clip, *free[clip.pk]) for clip in clip_updates]
        # Only the clips whose state or place in the queue moved are written: each write
        # leaves a dead row version at the head of the queue index (annotate.services.queue).
        changed = [clip for clip in clip_updates if _moved(clip, *free[clip.pk])]
        reopened = any(
            free[clip.pk][0] == ClipState.MACHINE_LABELLED
            and clip.state != ClipState.MACHINE_LABELLED
            for clip in changed
        )
        Label.objects.bulk_update(revoked, ["revoked_at", "revoked_reason"], batch_size=1000)
        Label.objects.bulk_create(new_labels, batch_size=1000)
        for start in range(0, len(changed), 1000):
            update_from_values(
                Clip,
                {"state": "TEXT", "priority": "DOUBLE PRECISION", "ratings_wanted": "INTEGER"},
                [
                    (c.pk, c.state, c.priority, c.ratings_wanted)
                    for c in changed[start : start + 1000]
                ],
            )
        ModelVersion.objects.filter(pk=version.pk).update(scored_at=now)
        if reopened:
            queue_refresh_due(project_ids=[project.pk])
    if reopened and project.queue_refreshed_at is not None:
        # The clips it stopped labelling itself wait deferred: the refresh ranks them now.
        queue_refresh(project_id=project.pk)
    counts = Counter(clip.state for clip in clip_updates)
    report = ScoreReport(
        version.name,
        len(clip_ids),
        counts[ClipState.MACHINE_LABELLED],
        counts[ClipState.AWAITING_HUMANS],
        counts[ClipState.DEFERRED],
        len(revoked),
    )
    logger.info("scored project %s: %s", project.pk, report)
    return report
