from django.db import models
from django.db.models import F, Q

from annotate.models.projects import Project


class ClipState(models.TextChoices):
    NEW = "new", "New"
    AWAITING_HUMANS = "awaiting_humans", "Awaiting humans"
    RATED = "rated", "Rated"
    MACHINE_LABELLED = "machine_labelled", "Machine labelled"
    DEFERRED = "deferred", "Deferred"


# The order raters are served clips in (the index clip_queue_order_started_first backs
# it): clips people have started first, so labels are whole early; then the learner's
# priority.
QUEUE_ORDER = ("-n_ratings", "-priority", "id")
# The other end of the queue, for raters proven unreliable: the clips the model is surest
# of first (annotate.learning.crowd.serves_easy_first); clip_queue_order_easy_first backs
# it, else every such claim sorts the project's open clips.
EASY_FIRST_ORDER = ("priority", "-n_ratings", "id")


class Clip(models.Model):
    """One audio clip, stored once as 16 kHz mono, with its place in the human queue.

    `n_ratings` and `active_leases` are counters kept by the assignment and
    rating services under a conditional UPDATE, so that concurrent raters can
    never take more slots than `ratings_wanted - n_ratings`.
    """

    # No index of its own: the queue's index and `clip_unique_audio` lead with the project.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="clips", db_index=False
    )
    external_id = models.CharField(max_length=200, null=True, blank=True)
    audio = models.FileField(upload_to="clips/", max_length=300)
    sha256 = models.CharField(max_length=64, help_text="Of the original file's bytes.")
    duration_s = models.FloatField()
    original_sample_rate = models.PositiveIntegerField()
    original_channels = models.PositiveSmallIntegerField(default=1)
    original_name = models.CharField(max_length=300, blank=True)
    speaker = models.CharField(max_length=100, blank=True)
    gender = models.CharField(max_length=20, blank=True)
    language = models.CharField(max_length=12, blank=True)
    split = models.CharField(max_length=20, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    peaks = models.JSONField(default=list, blank=True, help_text="Waveform peaks for the UI.")

    state = models.CharField(max_length=20, choices=ClipState, default=ClipState.AWAITING_HUMANS)
    priority = models.FloatField(default=0.0, help_text="Higher is served to raters first.")
    ratings_wanted = models.PositiveSmallIntegerField(default=0)
    n_ratings = models.PositiveIntegerField(default=0)
    active_leases = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="clip_unique_audio"),
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=Q(external_id__isnull=False),
                name="clip_unique_external_id",
            ),
            models.CheckConstraint(condition=Q(duration_s__gt=0), name="clip_duration_positive"),
            models.CheckConstraint(
                condition=Q(active_leases__lte=F("ratings_wanted")), name="clip_leases_bounded"
            ),
        ]
        indexes = [
            models.Index(
                F("project"),
                F("state"),
                F("n_ratings").desc(),
                F("priority").desc(),
                F("id"),
                name="clip_queue_order_started_first",
            ),
            models.Index(
                F("project"),
                F("state"),
                F("priority"),
                F("n_ratings").desc(),
                F("id"),
                name="clip_queue_order_easy_first",
            ),
        ]

    def __str__(self) -> str:
        return f"clip {self.pk}"


class ReferenceLabel(models.Model):
    """A corpus's own gold value: seen only by researchers and benchmarks, never used to train."""

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="reference_labels")
    target = models.CharField(max_length=40)
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip", "target"], name="reference_unique_target"),
        ]

    def __str__(self) -> str:
        return f"{self.target}={self.value:.3f} (reference)"
