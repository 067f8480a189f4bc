from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    RATER = "rater", "Rater"
    RESEARCHER = "researcher", "Researcher"
    ADMIN = "admin", "Admin"


class RaterProfile(models.Model):
    """A user's role, and as a rater, the reliability learned from their ratings."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    role = models.CharField(max_length=12, choices=Role, default=Role.RATER)
    reliability = models.FloatField(default=1.0, help_text="0..1; weights the rater in EWE gold.")
    reliability_n = models.PositiveIntegerField(default=0, help_text="Shared clips it rests on.")
    external_id = models.CharField(
        max_length=200, blank=True, help_text="Rater id of an imported ratings.csv."
    )

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class RaterNoise(models.Model):
    """A rater's own rating noise on one target (learner.raters.rater_noise_each): how far
    their ratings fall from the other raters' on shared clips. Weights their ratings in a
    clip's label and decides whether their rating settles a clip."""

    target = models.ForeignKey("annotate.Target", on_delete=models.CASCADE, related_name="+")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    noise = models.FloatField(help_text="Root mean square error of one rating (scale units).")
    n_clips = models.PositiveIntegerField(help_text="Shared clips it rests on.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["target", "rater"], name="rater_noise_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} on {self.target}: {self.noise:.3f}"
