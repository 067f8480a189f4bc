"""Reads for the operations page: the audit log and a project's model versions with
what revoking each would touch."""

from django.db.models import Count, QuerySet

from annotate.models import AuditEntry, Label, LabelSource, ModelVersion, Project


def project_audit_log(*, project: Project) -> QuerySet[AuditEntry]:
    """The project's audit entries, newest first, with their actors."""
    return (
        AuditEntry.objects.filter(project=project)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def project_versions_live_labels(*, project: Project) -> list[dict]:
    """Each model version of the project, newest first, with its live machine labels and
    the clips they are on, and when it was revoked (the last audit entry saying so)."""
    counts = {
        row["model_version"]: row
        for row in Label.objects.filter(
            clip__project=project, source=LabelSource.MACHINE, revoked_at__isnull=True
        )
        .values("model_version")
        .annotate(labels=Count("id"), clips=Count("clip", distinct=True))
    }
    revoked = dict(
        AuditEntry.objects.filter(project=project, action="model_version.revoke")
        .order_by("created_at")
        .values_list("object_id", "created_at")
    )
    return [
        {
            "id": version.pk,
            "name": version.name,
            "is_active": version.is_active,
            "created_at": version.created_at,
            "promoted_at": version.promoted_at,
            "dev_ccc": version.metrics.get("dev_ccc") or {},
            "live_machine_labels": counts.get(version.name, {}).get("labels", 0),
            "clips": counts.get(version.name, {}).get("clips", 0),
            "revoked_at": revoked.get(str(version.pk)),
        }
        for version in ModelVersion.objects.filter(project=project).order_by("-id")
    ]
