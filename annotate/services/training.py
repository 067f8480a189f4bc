"""Retraining a project's models, promoting them safely, and acting on their scores.

A run goes queued -> running -> succeeded | failed. The candidate model and whether it
replaces the active one come from annotate.learning.training
(learner.training.train_candidate); its bundle is written to a temporary file and
renamed into place; the ModelVersion row is promoted in the same transaction that marks
the run succeeded, and only when it is not worse on the development clips than the
active model. While a run trains, a thread beats its heartbeat every
CONCORD_RUN_HEARTBEAT_SECONDS. A worker killed mid-run leaves the run running with a
heartbeat that stops; once it is CONCORD_RUN_STALE_SECONDS old the run is lost: a
redelivered task takes it over, or the reaper (beat, every minute) fails it, or a
retrain request that finds it fails it at once and starts a new run. The previous model
stays active throughout, and a lost run's unfinished files are removed.
"""

import hashlib
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from annotate.errors import ConcordError, Conflict, ValidationError
from annotate.learning.readiness import training_shortfall
from annotate.learning.training import Candidate, candidate_train
from annotate.models import (
    Clip,
    Label,
    LabelSource,
    ModelVersion,
    Project,
    Rating,
    RunOutcome,
    RunState,
    RunTrigger,
    TrainingRun,
)
from annotate.queueing import enqueue, enqueue_on_commit
from annotate.services.audit import audit_record
from annotate.services.features import project_features_ensure

logger = logging.getLogger(__name__)


def _live_run(project: Project) -> TrainingRun | None:
    return TrainingRun.objects.filter(
        project=project, state__in=[RunState.QUEUED, RunState.RUNNING]
    ).first()


class RunStopped(Exception):
    """Raised at a progress checkpoint when the run was cancelled or taken from us."""


def training_run_start(
    *,
    project: Project,
    trigger: str = RunTrigger.ADMIN,
    requested_by: User | None = None,
) -> TrainingRun:
    """Queue a retraining; one live run per project (409 names the live one). A live run
    whose worker was lost (heartbeat older than CONCORD_RUN_STALE_SECONDS) is failed at
    once and does not block the new one."""
    from annotate.tasks import learner_training_run_task

    shortfall = training_shortfall(project)
    if shortfall:
        raise ValidationError(shortfall, code="too_few_labels")
    for attempt in range(2):
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    project=project, trigger=trigger, requested_by=requested_by
                )
                # If the broker is down the run stays queued; the reaper sends it again.
                enqueue_on_commit(learner_training_run_task, run.pk)
            return run
        except IntegrityError:
            live = _live_run(project)
            if attempt == 0 and live is not None and _runs_lose(pk=live.pk):
                continue
            raise Conflict(
                f"project {project.name!r} already has training run "
                f"{live.pk if live else '?'} {live.state if live else 'in progress'}",
                code="run_in_progress",
            ) from None
    raise AssertionError("unreachable")


def training_run_auto_start(*, project_id: int) -> TrainingRun | None:
    """Start a run once `retrain_after_labels` human ratings arrived since the last one."""
    project = Project.objects.get(pk=project_id)
    if project.paused or project.retrain_after_labels == 0 or _live_run(project) is not None:
        return None
    last = TrainingRun.objects.filter(project=project).order_by("-created_at").first()
    new_ratings = Rating.objects.filter(clip__project=project)
    if last is not None:
        new_ratings = new_ratings.filter(created_at__gt=last.created_at)
    if new_ratings.count() < project.retrain_after_labels:
        return None
    try:
        return training_run_start(project=project, trigger=RunTrigger.AUTO)
    except ConcordError:
        return None  # another process started one first, or too few labels yet


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.CONCORD_RUN_STALE_SECONDS)


class _Heartbeat:
    """Beats a running run's heartbeat from a thread while its worker trains, however
    long the gaps between progress checkpoints. Not inside a caller's transaction (the
    beats would be invisible, and would wait for its row lock): checkpoints beat there."""

    def __init__(self, run_id: int, claim: datetime | None) -> None:
        self.run_id, self.claim = run_id, claim
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> "_Heartbeat":
        if not connection.in_atomic_block:
            self.thread = threading.Thread(
                target=self._run, name=f"heartbeat-run-{self.run_id}", daemon=True
            )
            self.thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self.stopped.wait(settings.CONCORD_RUN_HEARTBEAT_SECONDS):
                owned = TrainingRun.objects.filter(pk=self.run_id, state=RunState.RUNNING)
                if self.claim is not None:
                    owned = owned.filter(started_at=self.claim)
                try:
                    if not owned.update(heartbeat_at=timezone.now()):
                        return  # finished, cancelled or taken over
                except Exception:
                    logger.warning("heartbeat of training run %s failed", self.run_id)
                    connection.close()  # a fresh connection next beat
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


def _runs_lose(**lookup: object) -> int:
    """Fail (or, when a cancel was asked, cancel) running runs whose heartbeat is older
    than CONCORD_RUN_STALE_SECONDS: their worker is gone. Their unfinished bundle files
    go; the active model is never touched. Returns how many runs it ended."""
    stale = TrainingRun.objects.filter(
        state=RunState.RUNNING, heartbeat_at__lt=_stale_before(), **lookup
    )
    lost = list(stale.values_list("pk", "project_id"))
    now = timezone.now()
    cancelled = stale.filter(cancel_requested=True).update(
        state=RunState.CANCELLED, finished_at=now
    )
    failed = stale.update(
        state=RunState.FAILED,
        error="the worker running it was lost (no heartbeat): the previous model stays active",
        finished_at=now,
    )
    for run_id, project_id in lost:
        logger.warning("training run %s lost its worker: failed", run_id)
        folder = Path(settings.MEDIA_ROOT) / "models" / str(project_id)
        recorded = ModelVersion.objects.filter(run_id=run_id).exists()
        for leftover in folder.glob(f".run-{run_id}.bundle*"):
            leftover.unlink(missing_ok=True)
        if not recorded:
            (folder / f"run-{run_id}.bundle").unlink(missing_ok=True)
    return failed + cancelled


def _claim(run_id: int) -> datetime | None:
    """Take a queued run, or a running one whose worker stopped beating, with one
    conditional update (two workers handed the same run: one wins). The claim's
    `started_at` is its token: a worker whose run was taken over stops at its next
    checkpoint instead of training on beside the new owner."""
    now = timezone.now()
    claimable = Q(state=RunState.QUEUED) | Q(
        state=RunState.RUNNING, heartbeat_at__lt=_stale_before()
    )
    taken = TrainingRun.objects.filter(claimable, pk=run_id).update(
        state=RunState.RUNNING, started_at=now, heartbeat_at=now, progress=0.0
    )
    return now if taken else None


def _progress(run_id: int, progress: float, claim: datetime | None = None) -> None:
    """A checkpoint: report progress, or stop when a cancel was requested or another
    worker took the run over (its claim replaced ours)."""
    owned = TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING, cancel_requested=False)
    if claim is not None:
        owned = owned.filter(started_at=claim)
    if not owned.update(progress=progress, heartbeat_at=timezone.now()):
        raise RunStopped()


# Project settings that change what a retraining learns.
_TRAINING_SETTINGS = [
    "feature_extractor",
    "feature_normalisation",
    "regressor",
    "prior_id",
    "speakers_version",
    "self_label_max_error",
    "machine_label_target_error",
    "machine_labels_as_good_as_humans",
    "rater_panel",
]


def training_inputs(project: Project) -> str:
    """A digest of what a retraining learns from: live human labels, ratings, clips,
    targets and the training settings (machine labels are the model's own output)."""
    digest = hashlib.sha256()
    labels = Label.objects.filter(
        clip__project=project, source=LabelSource.HUMAN, revoked_at__isnull=True
    ).order_by("clip_id", "target")
    for row in labels.values_list("clip_id", "target", "value", "agreement").iterator():
        digest.update(repr(row).encode())
    digest.update(
        repr(
            Rating.objects.filter(clip__project=project).aggregate(Count("id"), Max("id"))
        ).encode()
    )
    digest.update(
        repr(Clip.objects.filter(project=project).aggregate(Count("id"), Max("id"))).encode()
    )
    digest.update(
        repr(
            list(project.targets.values_list("name", "scale_min", "scale_max", "rater_noise"))
        ).encode()
    )
    digest.update(repr([getattr(project, name) for name in _TRAINING_SETTINGS]).encode())
    return digest.hexdigest()


def _unchanged_since(project: Project, run_id: int, inputs: str) -> TrainingRun | None:
    """The last successful run, when it learned from the same inputs and a model is active."""
    last = (
        TrainingRun.objects.filter(project=project, state=RunState.SUCCEEDED)
        .exclude(pk=run_id)
        .order_by("-id")
        .first()
    )
    active = ModelVersion.objects.filter(project=project, is_active=True).exists()
    if last is not None and active and last.metrics.get("inputs") == inputs:
        return last
    return None


def _artifact_path(project: Project, run_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "models" / str(project.pk) / f"run-{run_id}.bundle"


def training_run_execute(*, run_id: int) -> TrainingRun:
    """Train, evaluate, save and maybe promote; safe to call twice for one run, from
    two workers at once (one claims it, the other returns)."""
    claim = _claim(run_id)
    if claim is None:
        return TrainingRun.objects.get(pk=run_id)
    run = TrainingRun.objects.select_related("project").get(pk=run_id)
    project = run.project
    path = _artifact_path(project, run_id)
    # This claim's own file until promotion renames it into place: a worker that lost
    # the run never writes or removes the artifact the winner recorded.
    attempt = path.with_name(f".{path.name}.{int(claim.timestamp() * 1e6)}")
    heartbeat = _Heartbeat(run_id, claim).start()
    try:
        inputs = training_inputs(project)
        last = _unchanged_since(project, run_id, inputs)
        if last is not None:
            TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING, started_at=claim).update(
                state=RunState.SUCCEEDED,
                outcome=RunOutcome.UNCHANGED,
                progress=1.0,
                metrics={"inputs": inputs, "unchanged_since_run": last.pk},
                finished_at=timezone.now(),
            )
            return TrainingRun.objects.get(pk=run_id)
        project_features_ensure(
            project=project, after_batch=lambda share: _progress(run_id, 0.2 * share, claim)
        )
        _progress(run_id, 0.2, claim)
        candidate = candidate_train(
            project=project, progress=lambda share: _progress(run_id, share, claim)
        )
        _progress(run_id, 0.9, claim)
        sha256 = candidate.bundle.save(attempt)
        _version_record(
            run=run,
            candidate=candidate,
            claim=claim,
            attempt=attempt,
            path=path,
            sha256=sha256,
            inputs=inputs,
        )
    except RunStopped:
        attempt.unlink(missing_ok=True)  # no partial artifact
        TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING, cancel_requested=True).update(
            state=RunState.CANCELLED, finished_at=timezone.now()
        )
    except Exception as exc:
        logger.exception("training run %s failed", run_id)
        attempt.unlink(missing_ok=True)
        TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING, started_at=claim).update(
            state=RunState.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
    finally:
        heartbeat.stop()
    return TrainingRun.objects.get(pk=run_id)


@transaction.atomic
def _version_record(
    *,
    run: TrainingRun,
    candidate: Candidate,
    claim: datetime,
    attempt: Path,
    path: Path,
    sha256: str,
    inputs: str,
) -> None:
    """The run's model version, promoted (and the pool rescored) when the candidate is;
    the run succeeded. A cancel that arrived meanwhile, or another worker's takeover,
    wins (RunStopped). The bundle is renamed into place under the run's row lock."""
    from annotate.tasks import learner_project_score_task

    locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if locked.cancel_requested or locked.state != RunState.RUNNING or locked.started_at != claim:
        raise RunStopped()
    attempt.replace(path)
    project = run.project
    version = ModelVersion.objects.create(
        project=project,
        run=run,
        name=f"p{project.pk}-run{run.pk}",
        artifact=str(path.relative_to(settings.MEDIA_ROOT)),
        sha256=sha256,
        extractor_key=candidate.bundle.extractor_key,
        metrics=candidate.metrics,
    )
    if candidate.promote:
        ModelVersion.objects.filter(project=project, is_active=True).update(is_active=False)
        version.is_active = True
        version.promoted_at = timezone.now()
        version.save(update_fields=["is_active", "promoted_at"])
        enqueue_on_commit(learner_project_score_task, project.pk)
    TrainingRun.objects.filter(pk=run.pk).update(
        state=RunState.SUCCEEDED,
        outcome=RunOutcome.PROMOTED if candidate.promote else RunOutcome.NOT_BETTER,
        progress=1.0,
        metrics={**candidate.metrics, "inputs": inputs},
        finished_at=timezone.now(),
    )


def training_run_cancel(*, run: TrainingRun, actor: User) -> TrainingRun:
    """Cancel a queued run at once; ask a running one to stop at its next checkpoint.
    The previous model stays active either way; audit-logged."""
    with transaction.atomic():
        if TrainingRun.objects.filter(pk=run.pk, state=RunState.QUEUED).update(
            state=RunState.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        ):
            after: dict[str, object] = {"state": RunState.CANCELLED}
        elif TrainingRun.objects.filter(pk=run.pk, state=RunState.RUNNING).update(
            cancel_requested=True
        ):
            after = {"cancel_requested": True}
        else:
            state = TrainingRun.objects.get(pk=run.pk).state
            raise Conflict(
                f"training run {run.pk} is already {state}: nothing to cancel",
                code="run_finished",
            )
        audit_record(
            actor=actor,
            project=run.project,
            action="training_run.cancel",
            target=run,
            before={"state": run.state},
            after=after,
        )
    return TrainingRun.objects.get(pk=run.pk)


def training_runs_reap() -> int:
    """Fail runs whose worker died (heartbeat older than CONCORD_RUN_STALE_SECONDS) and
    that no redelivered task took over; re-send runs still queued long after their
    message should have been taken (a broker restart loses queued messages). Beat runs
    it every minute. Returns how many runs it touched."""
    from annotate.tasks import learner_training_run_task

    cutoff = timezone.now() - timedelta(seconds=settings.CONCORD_RUN_STALE_SECONDS * 10)
    failed = _runs_lose()
    stuck = list(
        TrainingRun.objects.filter(state=RunState.QUEUED, created_at__lt=cutoff).values_list(
            "id", flat=True
        )
    )
    for run_id in stuck:
        enqueue(learner_training_run_task, run_id)
    return failed + len(stuck)
