"""Admins revoke a model version's machine labels and send its clips back to people.

Revoking is the admin's form of what scoring does to a machine label a newer model
contradicts (annotate.services.scoring): the label keeps its row with `revoked_at` and a
reason, and the clip, no longer labelled by anyone, returns to the human queue the way
a queue refresh queues a clip (annotate.services.queue: awaiting humans, `min_raters`
wanted); the next queue refresh ranks it among the rest.

A revoked version must not label again. Scoring only ever uses the project's active
version, so revoking the active version also deactivates it: the project then has no
active model, its clips are left to people, and the next retraining promotes its
candidate (there is nothing to compare against). An inactive version is never made
active again, so its revocation needs nothing more.
"""

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotate.errors import Conflict
from annotate.models import Clip, ClipState, Label, LabelSource, ModelVersion
from annotate.services.audit import audit_record
from annotate.services.queue import queue_refresh_due


@dataclass(frozen=True)
class Revocation:
    """What revoking a version did (or, as a preview, would do)."""

    model_version: str
    labels: int  # machine labels revoked
    clips: int  # clips that had any of them
    requeued: int  # of those, clips sent back to the human queue
    deactivated: bool  # the version was the active one


def _live_labels(version: ModelVersion) -> QuerySet[Label]:
    return Label.objects.filter(
        clip__project_id=version.project_id,
        source=LabelSource.MACHINE,
        model_version=version.name,
        revoked_at__isnull=True,
    )


def _requeueable(clip_ids: list[int]) -> QuerySet[Clip]:
    # Clips people have started or hold keep their state: their ratings make the label.
    return Clip.objects.filter(
        pk__in=clip_ids, state=ClipState.MACHINE_LABELLED, n_ratings=0, active_leases=0
    )


def model_version_revoke_preview(*, version: ModelVersion) -> Revocation:
    """What `model_version_revoke` would do now, changing nothing."""
    labels = _live_labels(version)
    clip_ids = list(labels.values_list("clip_id", flat=True).distinct())
    return Revocation(
        model_version=version.name,
        labels=labels.count(),
        clips=len(clip_ids),
        requeued=_requeueable(clip_ids).count(),
        deactivated=version.is_active,
    )


def model_version_revoke(*, version: ModelVersion, actor: User | None) -> Revocation:
    """Revoke every live machine label of `version` (revoked_at now, with a reason naming
    the actor), send their machine-labelled clips back to the human queue, deactivate the
    version if it is the active one, and record one audit entry `model_version.revoke`
    with the counts, in one transaction. Conflict `nothing_to_revoke` when the version
    has no live machine label and is not active."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        project = locked.project
        labels = list(_live_labels(locked).select_for_update())
        if not labels and not locked.is_active:
            raise Conflict(
                f"model version {locked.name} has no live machine labels and is not active: "
                "nothing to revoke",
                code="nothing_to_revoke",
            )
        now = timezone.now()
        who = actor.get_username() if actor is not None else "an admin"
        for label in labels:
            label.revoked_at = now
            label.revoked_reason = f"{locked.name} revoked by {who}"
        Label.objects.bulk_update(labels, ["revoked_at", "revoked_reason"], batch_size=1000)
        clip_ids = sorted({label.clip_id for label in labels})
        requeued = _requeueable(clip_ids).update(
            state=ClipState.AWAITING_HUMANS, ratings_wanted=project.min_raters, priority=0.0
        )
        if requeued:
            queue_refresh_due(project_ids=[project.pk])
        deactivated = locked.is_active
        if deactivated:
            locked.is_active = False
            locked.save(update_fields=["is_active"])
        result = Revocation(locked.name, len(labels), len(clip_ids), requeued, deactivated)
        audit_record(
            actor=actor,
            project=project,
            action="model_version.revoke",
            target=locked,
            before={"is_active": deactivated, "live_machine_labels": len(labels)},
            after={
                "is_active": False,
                "live_machine_labels": 0,
                "labels_revoked": result.labels,
                "clips": result.clips,
                "clips_requeued": result.requeued,
            },
        )
    return result
