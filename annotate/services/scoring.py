"""Acting on a promoted model: machine labels, revocations and the human queue.

For every clip without human ratings, the active model's calibrated expected error
decides (learner.cooperative.decide): confident clips get machine labels with
provenance, informative ones go to humans with a priority and a number of raters to
start with, the rest are deferred. A live machine label that the new model contradicts
by more than the project's tolerance is revoked first.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotate.models import Clip, ClipState, Label, LabelSource, ModelVersion, Project
from annotate.services.features import feature_cache, project_features_ensure
from learner.cooperative import Action, decide
from learner.training import TrainedBundle

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreReport:
    model_version: str
    scored: int
    machine_labelled: int
    queued: int
    deferred: int
    revoked: int


def _scorable(project: Project):
    # Clips people have started on or hold stay with people.
    return Clip.objects.filter(project=project, n_ratings=0, active_leases=0).filter(
        Q(state__in=[ClipState.AWAITING_HUMANS, ClipState.DEFERRED, ClipState.MACHINE_LABELLED])
    )


def project_score(*, project_id: int) -> ScoreReport | None:
    """Score the pool with the active model and apply the cooperative decisions."""
    project = Project.objects.get(pk=project_id)
    version = ModelVersion.objects.filter(project=project, is_active=True).first()
    if version is None:
        return None
    bundle = TrainedBundle.load(Path(settings.MEDIA_ROOT) / version.artifact)
    project_features_ensure(project=project)
    all_ids, all_X = feature_cache.matrix(
        project_id=project.pk,
        extractor_key=bundle.extractor_key,
        normalisation=bundle.feature_normalisation,
    )
    scorable = set(_scorable(project).values_list("id", flat=True))
    keep = np.array([int(c) in scorable for c in all_ids], dtype=bool)
    clip_ids, X = all_ids[keep], all_X[keep]
    if not clip_ids.size:
        ModelVersion.objects.filter(pk=version.pk).update(scored_at=timezone.now())
        return ScoreReport(version.name, 0, 0, 0, 0, 0)
    scores = bundle.predict(X)
    decisions = decide(
        expected_error=scores.expected_error,
        agreement=scores.agreement,
        self_label_threshold=min(bundle.self_label_threshold, project.self_label_max_error),
        human_budget=project.human_budget_per_round,
        min_raters=project.min_raters,
        max_raters=project.max_raters,
    )
    targets = list(bundle.targets)
    tolerance = project.machine_label_revoke_tolerance
    now = timezone.now()
    counts = {"machine": 0, "humans": 0, "defer": 0, "revoked": 0}
    with transaction.atomic():
        # Lock the clips nobody took meanwhile; the filter re-checks under the row lock.
        free = set(
            _scorable(project)
            .filter(pk__in=clip_ids.tolist())
            .select_for_update()
            .values_list("id", flat=True)
        )
        live = {
            (label.clip_id, label.target): label
            for label in Label.objects.select_for_update().filter(
                clip_id__in=clip_ids.tolist(), source=LabelSource.MACHINE, revoked_at__isnull=True
            )
        }
        new_labels, revoked, clip_updates = [], [], []
        for i, clip_id in enumerate(clip_ids.tolist()):
            if clip_id not in free:
                continue
            decision = decisions[i]
            for t, target in enumerate(targets):
                old = live.get((clip_id, target))
                value = float(np.clip(scores.values[i, t], -1.0, 1.0))
                disagrees = old is not None and abs(old.value - value) > tolerance
                if old is not None and (disagrees or decision.action != Action.SELF_LABEL):
                    old.revoked_at = now
                    old.revoked_reason = (
                        f"{version.name} predicts {value:.3f}"
                        if disagrees
                        else f"{version.name} is not confident"
                    )
                    revoked.append(old)
                    old = None
                if decision.action == Action.SELF_LABEL and old is None:
                    new_labels.append(
                        Label(
                            clip_id=clip_id,
                            target=target,
                            value=value,
                            source=LabelSource.MACHINE,
                            confidence=float(scores.expected_error[i, t]),
                            model_version=version.name,
                        )
                    )
            clip = Clip(pk=clip_id)
            if decision.action == Action.SELF_LABEL:
                clip.state, clip.priority, clip.ratings_wanted = ClipState.MACHINE_LABELLED, 0.0, 0
                counts["machine"] += 1
            elif decision.action == Action.ASK_HUMANS:
                clip.state, clip.priority = ClipState.AWAITING_HUMANS, float(decision.priority)
                clip.ratings_wanted = int(decision.n_raters)
                counts["humans"] += 1
            else:
                clip.state, clip.priority, clip.ratings_wanted = ClipState.DEFERRED, 0.0, 0
                counts["defer"] += 1
            clip_updates.append(clip)
        Label.objects.bulk_update(revoked, ["revoked_at", "revoked_reason"], batch_size=1000)
        Label.objects.bulk_create(new_labels, batch_size=1000)
        Clip.objects.bulk_update(
            clip_updates, ["state", "priority", "ratings_wanted"], batch_size=1000
        )
        counts["revoked"] = len(revoked)
        ModelVersion.objects.filter(pk=version.pk).update(scored_at=now)
    logger.info("scored project %s with %s: %s", project.pk, version.name, counts)
    return ScoreReport(
        version.name,
        int(clip_ids.size),
        counts["machine"],
        counts["humans"],
        counts["defer"],
        counts["revoked"],
    )
