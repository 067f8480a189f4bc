from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.models.clips import Clip
from annotate.models.projects import Project


class ClipFeatures(models.Model):
    """A clip's feature vector for one extractor (name + parameters = `extractor_key`)."""

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="features")
    extractor_key = models.CharField(max_length=100)
    values = models.BinaryField(help_text="float32 little-endian vector")
    n_features = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip", "extractor_key"], name="features_unique_key"),
        ]

    def __str__(self) -> str:
        return f"features of clip {self.clip_id} ({self.extractor_key})"


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class RunTrigger(models.TextChoices):
    ADMIN = "admin", "Admin request"
    COMMAND = "command", "Command line"
    AUTO = "auto", "New human labels"


class RunOutcome(models.TextChoices):
    PROMOTED = "promoted", "New model promoted"
    NOT_BETTER = "not_better", "Trained, not better than the active model"
    UNCHANGED = "unchanged", "Nothing changed since the last run: no new model"


class TrainingRun(models.Model):
    """One retraining of a project's models, from queue to promotion or failure."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    state = models.CharField(max_length=10, choices=RunState, default=RunState.QUEUED)
    trigger = models.CharField(max_length=10, choices=RunTrigger, default=RunTrigger.ADMIN)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    progress = models.FloatField(default=0.0)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=12, choices=RunOutcome, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["queued", "running"]),
                name="training_one_live_run_per_project",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="training_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.state})"


class ModelVersion(models.Model):
    """A trained model bundle on disk; at most one active per project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    run = models.OneToOneField(
        TrainingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="model_version"
    )
    name = models.CharField(max_length=64, unique=True)
    artifact = models.CharField(max_length=300, help_text="Path relative to MEDIA_ROOT.")
    sha256 = models.CharField(max_length=64)
    extractor_key = models.CharField(max_length=100)
    metrics = models.JSONField(default=dict)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    scored_at = models.DateTimeField(
        null=True, blank=True, help_text="When this version last scored the pool."
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=Q(is_active=True), name="model_one_active_per_project"
            ),
        ]

    def __str__(self) -> str:
        return self.name
