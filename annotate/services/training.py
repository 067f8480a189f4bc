"""Retraining a project's models, promoting them safely, and acting on their scores.

A run goes queued -> running -> succeeded | failed. The model bundle is written to a
temporary file and renamed into place; the ModelVersion row is promoted in the same
transaction that marks the run succeeded, and only when it is not worse on the
development clips than the active model. A worker killed mid-run leaves the run
running with a stale heartbeat: the redelivered task takes it over, and the reaper
fails runs nobody took over. The previous model stays active throughout.
"""

import logging
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotate.errors import Conflict
from annotate.learning import labelled_set, learner_config
from annotate.models import ModelVersion, Project, Rating, RunState, RunTrigger, TrainingRun
from annotate.queueing import enqueue, enqueue_on_commit
from annotate.services.features import feature_cache, project_features_ensure
from learner.training import TrainedBundle, compare_on_dev, speaker_split, train_round

logger = logging.getLogger(__name__)

# Not worse: a new model is kept out only when, on the same development clips, even the
# optimistic end of its bootstrap interval trails the active model by more than this
# mean CCC (or, across feature sets, its plain dev CCC does).
PROMOTION_TOLERANCE = 0.01


def _live_run(project: Project) -> TrainingRun | None:
    return TrainingRun.objects.filter(
        project=project, state__in=[RunState.QUEUED, RunState.RUNNING]
    ).first()


def training_run_start(
    *,
    project: Project,
    trigger: str = RunTrigger.ADMIN,
    requested_by: AbstractBaseUser | None = None,
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


def _stale_before() -> timezone.datetime:
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


def _features_of(project: Project, clip_ids, bundle: TrainedBundle) -> np.ndarray:
    """The clips' features as `bundle` sees them (its extractor and normalisation)."""
    _, X = feature_cache.rows(
        project_id=project.pk,
        extractor_key=bundle.extractor_key,
        normalisation=bundle.feature_normalisation,
        clip_ids=clip_ids,
    )
    return X


def _mean(metrics: dict[str, float]) -> float:
    values = [v for v in metrics.values() if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float("-inf")


def training_run_execute(*, run_id: int) -> TrainingRun:
    """Train, evaluate, save and maybe promote; safe to call twice for one run."""
    from annotate.tasks import learner_project_score_task

    if not _claim(run_id):
        return TrainingRun.objects.get(pk=run_id)
    run = TrainingRun.objects.select_related("project").get(pk=run_id)
    project = run.project
    try:
        project_features_ensure(project=project)
        _progress(run_id, 0.2)
        config = learner_config(project)
        data = labelled_set(project)
        # Development clips: whole speakers, human labels only, and the same speakers in every
        # run of the project, so the active model never trained on the clips it is compared
        # on (nor are its own machine labels there to flatter it).
        dev_speakers = speaker_split(data.groups, dev_fraction=0.25, random_state=project.pk)
        dev_mask = dev_speakers & data.human
        bundle = train_round(data.subset(~dev_speakers), data.subset(dev_mask), config)
        _progress(run_id, 0.7)
        dev_ccc = bundle.evaluate(data.X[dev_mask], data.y[dev_mask])
        active = ModelVersion.objects.filter(project=project, is_active=True).first()
        active_ccc, comparison = None, None
        if active is not None:
            previous = TrainedBundle.load(Path(settings.MEDIA_ROOT) / active.artifact)
            if previous.extractor_key == bundle.extractor_key:
                # The same clips, each version on the features it learned on.
                old_X = data.X[dev_mask]
                if previous.feature_normalisation != bundle.feature_normalisation:
                    old_X = _features_of(project, data.clip_ids[dev_mask], previous)
                dev_y = data.y[dev_mask]
                active_ccc = previous.evaluate(old_X, dev_y, holdout=True)
                comparison = compare_on_dev(bundle, previous, data.X[dev_mask], dev_y, old_X=old_X)
            else:
                active_ccc = active.metrics.get("dev_ccc", {})
        # Compared on clips it has not seen, the model is then refitted on every labelled
        # clip, development speakers too; the held-out fit stays in the bundle for the
        # next comparison.
        bundle = bundle.refit(data.subset(~dev_speakers | dev_mask), config)
        path = _artifact_path(project, run_id)
        sha256 = bundle.save(path)
        metrics = {
            "dev_ccc": dev_ccc,
            "active_dev_ccc": active_ccc,
            "vs_active": comparison,
            "n_train": int((~dev_speakers).sum()),
            "n_dev": int(dev_mask.sum()),
            **bundle.report,
        }
        if active is None:
            promote = True
        elif comparison is not None:
            # Not worse: only a model clearly worse on the same development clips is kept out.
            promote = comparison["high"] >= -PROMOTION_TOLERANCE
        else:
            promote = _mean(dev_ccc) >= _mean(active_ccc) - PROMOTION_TOLERANCE
        metrics["promoted"] = promote
        with transaction.atomic():
            version = ModelVersion.objects.create(
                project=project,
                run=run,
                name=f"p{project.pk}-run{run_id}",
                artifact=str(path.relative_to(settings.MEDIA_ROOT)),
                sha256=sha256,
                extractor_key=bundle.extractor_key,
                metrics=metrics,
            )
            if promote:
                ModelVersion.objects.filter(project=project, is_active=True).update(is_active=False)
                version.is_active = True
                version.promoted_at = timezone.now()
                version.save(update_fields=["is_active", "promoted_at"])
                enqueue_on_commit(learner_project_score_task, project.pk)
            TrainingRun.objects.filter(pk=run_id).update(
                state=RunState.SUCCEEDED, progress=1.0, metrics=metrics, finished_at=timezone.now()
            )
    except Exception as exc:
        logger.exception("training run %s failed", run_id)
        TrainingRun.objects.filter(pk=run_id, state=RunState.RUNNING).update(
            state=RunState.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
    return TrainingRun.objects.get(pk=run_id)


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
