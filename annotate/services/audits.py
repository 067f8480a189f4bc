"""Machine-label audits: a random sample of machine-labelled clips goes back to humans,
so the machine labels' real error can be measured against what the model claimed.

The machine label stays live while the audit is open: the clip keeps its label (and its
place in the training pool) until the humans' label replaces it, which the rating path
does on the first rating (annotate.services.ratings._human_label_write revokes it with
"human ratings arrived"). Completion is computed on reading
(annotate.selectors_audits): an audit is complete once its clip is rated again.
"""

import random

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotate.errors import NotFound, ValidationError
from annotate.models import (
    Clip,
    ClipState,
    Label,
    LabelSource,
    MachineLabelAudit,
    ModelVersion,
    Project,
)
from annotate.services.audit import audit_record

MAX_AUDIT = 500


def audit_raters_wanted(project: Project) -> int:
    """Ratings an audited clip wants: a panel's worth, as a human label is settled
    (at least the project's minimum, at most its maximum)."""
    return min(max(project.rater_panel, project.min_raters), project.max_raters)


def machine_audit_request(
    *,
    project: Project,
    by: User,
    n: int,
    model_version: str | None = None,
    random_state: int | None = None,
) -> list[MachineLabelAudit]:
    """Send a random sample of up to `n` machine-labelled clips (of `model_version`, a
    version name of the project, else of any version) back to humans: one
    MachineLabelAudit per clip with the machine values and claimed errors, the clip
    awaiting humans with a panel's worth of ratings wanted and the highest priority,
    audit-logged. Clips anyone has rated or holds, or with an open audit, are not drawn.
    ValidationError when there is nothing to draw."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_AUDIT:
        raise ValidationError(f"n must be a whole number from 1 to {MAX_AUDIT}", code="bad_n")
    version = None
    if model_version:
        version = ModelVersion.objects.filter(project=project, name=model_version).first()
        if version is None:
            raise NotFound(
                f"model version {model_version!r} does not exist in this project",
                code="no_model_version",
            )
    with transaction.atomic():
        candidates = Clip.objects.select_for_update(skip_locked=True).filter(
            project=project,
            state=ClipState.MACHINE_LABELLED,
            n_ratings=0,
            active_leases=0,
        )
        candidates = candidates.exclude(
            pk__in=MachineLabelAudit.objects.filter(completed_at__isnull=True).values("clip_id")
        )
        live = Label.objects.filter(
            clip__project=project, source=LabelSource.MACHINE, revoked_at__isnull=True
        )
        if version is not None:
            live = live.filter(model_version=version.name)
        free = candidates.filter(pk__in=live.values("clip"))
        ids = sorted(set(free.values_list("pk", flat=True)))
        if not ids:
            raise ValidationError(
                "no machine-labelled clip is free to audit"
                + (f" for {version.name}" if version else ""),
                code="nothing_to_audit",
            )
        chosen = random.Random(random_state).sample(ids, min(n, len(ids)))
        labels: dict[int, list[Label]] = {}
        for label in live.filter(clip_id__in=chosen):
            labels.setdefault(label.clip_id, []).append(label)
        versions = {
            v.name: v
            for v in ModelVersion.objects.filter(
                project=project, name__in={lb.model_version for ls in labels.values() for lb in ls}
            )
        }
        top = max(
            Clip.objects.filter(project=project).values_list("priority", flat=True), default=0.0
        )
        audits = []
        for clip_id in chosen:
            own = labels[clip_id]
            clip_version = version or versions.get(own[0].model_version)
            if clip_version is None:
                continue  # its model version row is gone: nothing to attribute errors to
            audits.append(
                MachineLabelAudit(
                    clip_id=clip_id,
                    model_version=clip_version,
                    machine_values={lb.target: lb.value for lb in own},
                    claimed_error={
                        lb.target: lb.confidence for lb in own if lb.confidence is not None
                    },
                    requested_by=by,
                )
            )
        MachineLabelAudit.objects.bulk_create(audits)
        Clip.objects.filter(pk__in=[a.clip_id for a in audits]).update(
            state=ClipState.AWAITING_HUMANS,
            ratings_wanted=audit_raters_wanted(project),
            priority=float(top) + 1.0,
        )
        audit_record(
            actor=by,
            project=project,
            action="machine_audit.request",
            target=project,
            after={
                "n": n,
                "model_version": version.name if version else None,
                "clips": [a.clip_id for a in audits],
                "requested_at": timezone.now().isoformat(),
            },
        )
    return audits
