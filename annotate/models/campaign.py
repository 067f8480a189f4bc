"""What the people who run a campaign do to it and see of it over time: audit entries,
blocked raters, machine-label audits and snapshots of the queue."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.models.clips import Clip
from annotate.models.learning import ModelVersion
from annotate.models.projects import Project


class AuditEntry(models.Model):
    """Who changed what and when, with the values before and after."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=40, help_text="e.g. project.update, rater.block.")
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="audit_project_time")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id} by {self.actor}"


class RaterBlock(models.Model):
    """A rater an admin has blocked from one project; while it exists they get no clips and
    can rate nothing there. With `exclude_ratings`, their ratings leave the labels."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rater_blocks")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    blocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    exclude_ratings = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "rater"], name="rater_block_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} blocked in {self.project}"


class MachineLabelAudit(models.Model):
    """A machine-labelled clip sent back to humans to measure how wrong machine labels are.

    `machine_values` and `claimed_error` are the machine label and its calibrated expected
    absolute error per target when the audit was requested; `human_values` is the human
    label once the clip is rated again."""

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="machine_audits")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="audits")
    machine_values = models.JSONField()
    claimed_error = models.JSONField(default=dict)
    human_values = models.JSONField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clip"],
                condition=Q(completed_at__isnull=True),
                name="audit_one_open_per_clip",
            ),
        ]

    def __str__(self) -> str:
        return f"audit of clip {self.clip_id} ({self.model_version})"


class ProjectSnapshot(models.Model):
    """A project's counts at one moment, for the dashboard's charts over time."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField(auto_now_add=True)
    states = models.JSONField(help_text="Clips per state.")
    labels = models.JSONField(help_text="Live labels per source: {human: n, machine: n}.")
    ratings = models.PositiveIntegerField()

    class Meta:
        ordering = ["taken_at"]
        indexes = [models.Index(fields=["project", "taken_at"], name="snapshot_project_time")]

    def __str__(self) -> str:
        return f"{self.project} at {self.taken_at:%Y-%m-%d %H:%M}"
