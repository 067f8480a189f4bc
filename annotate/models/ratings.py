from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.models.clips import Clip
from annotate.models.projects import Project


class AssignmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Expired"


class Assignment(models.Model):
    """A clip leased to one rater until `expires_at`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="assignments")
    # No index of its own: `assignment_rater_active` leads with the rater (each index is
    # one more write per claim on the hottest table).
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="assignments",
        db_index=False,
    )
    status = models.CharField(
        max_length=10, choices=AssignmentStatus, default=AssignmentStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One live lease per rater and clip.
            models.UniqueConstraint(
                fields=["clip", "rater"],
                condition=Q(status="active"),
                name="assignment_one_active_per_rater_clip",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="assignment_expiry"),
            models.Index(fields=["rater", "project", "status"], name="assignment_rater_active"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"


class RatingSource(models.TextChoices):
    RATER = "rater", "Rated in Concord"
    IMPORT = "import", "Imported from a corpus"


class Rating(models.Model):
    """One rater's values for one clip, per target."""

    # No indexes of their own: `rating_one_per_rater_clip` leads with the clip,
    # `rating_rater_time` and `rating_unique_client_token` with the rater.
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="ratings", db_index=False)
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings", db_index=False
    )
    assignment = models.OneToOneField(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="rating"
    )
    values = models.JSONField()
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    client_token = models.CharField(max_length=64)
    source = models.CharField(max_length=10, choices=RatingSource, default=RatingSource.RATER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip", "rater"], name="rating_one_per_rater_clip"),
            models.UniqueConstraint(
                fields=["rater", "client_token"], name="rating_unique_client_token"
            ),
        ]
        indexes = [models.Index(fields=["rater", "created_at"], name="rating_rater_time")]

    def __str__(self) -> str:
        return f"rating {self.pk}"
