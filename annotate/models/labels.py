from django.db import models
from django.db.models import Q

from annotate.models.clips import Clip


class LabelSource(models.TextChoices):
    HUMAN = "human", "Human raters"
    MACHINE = "machine", "Machine"


class Label(models.Model):
    """The current label of a clip for one target, with its provenance.

    Old labels are kept with `revoked_at` set; at most one live label per clip and target.
    """

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="labels")
    target = models.CharField(max_length=40)
    value = models.FloatField()
    source = models.CharField(max_length=10, choices=LabelSource)
    confidence = models.FloatField(
        null=True, blank=True, help_text="Machine labels: calibrated expected absolute error."
    )
    model_version = models.CharField(max_length=64, blank=True)
    n_ratings = models.PositiveIntegerField(default=0)
    agreement = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clip", "target"],
                condition=Q(revoked_at__isnull=True),
                name="label_one_live_per_clip_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target}={self.value:.3f} ({self.source})"
