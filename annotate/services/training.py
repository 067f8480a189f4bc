"""Retraining a project's models, promoting them safely, and acting on their scores.

A run goes queued -> running -> succeeded | failed. The candidate model and whether it
replaces the active one come from annotate.learning.training
(learner.training.train_candidate); its bundle is written to a temporary file and
renamed into place; the ModelVersion row is promoted in the same transaction that marks
the run succeeded, and only when it is not worse on the development clips than the
active model. A worker killed mid-run leaves the run
running with a stale heartbeat: the redelivered task takes it over, and the reaper
fails runs nobody took over. The previous model stays active throughout.
"""

import logging
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotate.errors import Conflict
from annotate.learning.training import Candidate, candidate_train
from annotate.models import ModelVersion, Project, Rating, RunState, RunTrigger, TrainingRun
from annotate.queueing import enqueue, enqueue_on_commit
from annotate.services.features import project_features_ensure

logger = logging.getLogger(__name__)


def _live_run(project: Project) -> TrainingRun | None:
    return TrainingRun.objects.filter(
        project=project, state__in=[RunState.QUEUED, RunState.RUNNING]
    ).first()


def training_run_start(
    *,
    project: Project,
    trigger: str = RunTrigger.ADMIN,
    requested_by: User | None = None,
) -> TrainingRun:
    """Queue a retraining; one live run per project (409 names the live one)."""
    from annotate.tasks import learner_training_run_task

    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                project=project, trigger=trigger, requested_by=requested_by
            )
            # If the broker is down the run stays queued; the reaper sends it again.
            enqueue_on_commit(learner_training_run_task, run.pk)
    except IntegrityError:
        live = _live_run(project)
        raise Conflict(
            f"project {project.name!r} already has training run {live.pk if live else '?'} "
            f"{live.state if live else 'in progress'}",
            code="run_in_progress",
        ) from None
    return run


def training_run_auto_start(*, project_id: int) -> TrainingRun | None:
    """Start a run once `retrain_after_labels` human ratings arrived since the last one."""
    project = Project.objects.get(pk=project_id)
    if project.retrain_after_labels == 0 or _live_run(project) is not None:
        return None
    last = TrainingRun.objects.filter(project=project).order_by("-created_at").first()
    new_ratings = Rating.objects.filter(clip__project=project)
    if last is not None:
        new_ratings = new_ratings.filter(created_at__gt=last.created_at)
    if new_ratings.count() < project.retrain_after_labels:
        return None
    try:
        return training_run_start(project=project, trigger=RunTrigger.AUTO)
    except Conflict:
        return None  # another process started one first


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.CONCORD_RUN_STALE_SECONDS)


def _claim(run_id: int) -> bool:
    now = timezone.now()
    claimable = Q(state=RunState.QUEUED) | Q(
        state=RunState.RUNNING, heartbeat_at__lt=_stale_before()
    )
    return bool(
        TrainingRun.objects.filter(claimable, pk=run_id).update(
            state=RunState.RUNNING, started_at=now, heartbeat_at=now, progress=0.0
        )
    )


def _progress(run_id: int, progress: float) -> None:
    TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING).update(
        progress=progress, heartbeat_at=timezone.now()
    )


def _artifact_path(project: Project, run_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "models" / str(project.pk) / f"run-{run_id}.bundle"


def training_run_execute(*, run_id: int) -> TrainingRun:
    """Train, evaluate, save and maybe promote; safe to call twice for one run."""
    if not _claim(run_id):
        return TrainingRun.objects.get(pk=run_id)
    run = TrainingRun.objects.select_related("project").get(pk=run_id)
    project = run.project
    try:
        project_features_ensure(project=project)
        _progress(run_id, 0.2)
        candidate = candidate_train(
            project=project, progress=lambda share: _progress(run_id, share)
        )
        path = _artifact_path(project, run_id)
        sha256 = candidate.bundle.save(path)
        _version_record(run=run, candidate=candidate, path=path, sha256=sha256)
    except Exception as exc:
        logger.exception("training run %s failed", run_id)
        TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING).update(
            state=RunState.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
    return TrainingRun.objects.get(pk=run_id)


@transaction.atomic
def _version_record(*, run: TrainingRun, candidate: Candidate, path: Path, sha256: str) -> None:
    """The run's model version, promoted (and the pool rescored) when the candidate is;
    the run succeeded."""
    from annotate.tasks import learner_project_score_task

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
        progress=1.0,
        metrics=candidate.metrics,
        finished_at=timezone.now(),
    )


def training_runs_reap() -> int:
    """Fail runs whose worker died and that no redelivered task took over; re-send runs
    still queued long after their message should have been taken (a broker restart
    loses queued messages). Returns how many runs it touched."""
    from annotate.tasks import learner_training_run_task

    cutoff = timezone.now() - timedelta(seconds=settings.CONCORD_RUN_STALE_SECONDS * 10)
    failed = TrainingRun.objects.filter(state=RunState.RUNNING, heartbeat_at__lt=cutoff).update(
        state=RunState.FAILED, error="the worker running it was lost", finished_at=timezone.now()
    )
    stuck = list(
        TrainingRun.objects.filter(state=RunState.QUEUED, created_at__lt=cutoff).values_list(
            "id", flat=True
        )
    )
    for run_id in stuck:
        enqueue(learner_training_run_task, run_id)
    return failed + len(stuck)
