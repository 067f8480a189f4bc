from django.conf import settings
from django.db import models
from django.db.models import Q


class Prior(models.Model):
    """A named, versioned model trained on earlier corpora or projects, that new projects
    start from (learner.prior). The bundle on disk is a learner.training.TrainedBundle."""

    name = models.SlugField(max_length=60)
    version = models.PositiveIntegerField()
    targets = models.JSONField(
        help_text='What it predicts, each on its scale: {"arousal": [-1, 1], ...}.'
    )
    extractor_key = models.CharField(max_length=100)
    feature_normalisation = models.CharField(
        max_length=20, help_text="corpus | speaker: how its features are scaled."
    )
    sources = models.JSONField(
        default=list, help_text="What it learned from: corpus folders or projects."
    )
    n_clips = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict)
    artifact = models.CharField(max_length=300, help_text="Path relative to MEDIA_ROOT.")
    sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="prior_unique_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="prior_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def label(self) -> str:
        """How users name it: name@version."""
        return f"{self.name}@{self.version}"
