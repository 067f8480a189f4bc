from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q


class FeatureNormalisation(models.TextChoices):
    AUTO = "auto", "Chosen on the development speakers' labels"
    SPEAKER = "speaker", "Standardised within each speaker"
    NONE = "none", "As extracted"


class Project(models.Model):
    """A labelling job: a corpus of clips, the targets rated and the learner's budgets."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    min_raters = models.PositiveSmallIntegerField(default=2)
    max_raters = models.PositiveSmallIntegerField(default=5)
    agreement_target = models.FloatField(
        default=0.7,
        help_text="Until the crowd's rating noise is known: ask more raters while a clip's "
        "agreement is below this (0..1).",
    )
    rater_panel = models.PositiveSmallIntegerField(
        default=3,
        help_text="A clip's label must be as certain as the mean of this many typical raters; "
        "more raters are asked, up to max_raters, while it is not.",
    )
    self_label_max_error = models.FloatField(
        default=0.15,
        help_text="The learner labels a clip itself only where its calibrated expected "
        "absolute error is at most this, on every target (label units).",
    )
    machine_label_target_error = models.FloatField(
        default=0.2,
        help_text="Target mean absolute error of machine labels on held-out human labels.",
    )
    machine_labels_as_good_as_humans = models.BooleanField(
        default=True,
        help_text="Once the crowd's noise is known, a machine label must also be as good as "
        "a human label from rater_panel raters (learner.raters.human_label_error); off: "
        "only the two error bars above count.",
    )
    machine_label_revoke_tolerance = models.FloatField(
        default=0.3,
        help_text="A newer model that differs from a machine label by more than this revokes it.",
    )
    human_budget_per_round = models.PositiveIntegerField(
        default=100, help_text="Clips sent to humans per learner round."
    )
    retrain_after_labels = models.PositiveIntegerField(
        default=50, help_text="Retrain automatically after this many new human labels (0: never)."
    )
    lease_seconds = models.PositiveIntegerField(default=600)
    # The defaults won on development speakers over the shared corpora, acted and natural
    # (docs/features.md): ComParE 2016 at 16 kHz, features as extracted, clipped ridge.
    feature_extractor = models.CharField(
        max_length=20, default="compare16k", help_text="learner.features extractor name."
    )
    feature_normalisation = models.CharField(
        max_length=20,
        choices=FeatureNormalisation,
        default=FeatureNormalisation.NONE,
        help_text="How features are scaled before the models see them "
        "(learner.features.speaker_normalise). auto: each retraining keeps whichever "
        "scores better on the development speakers (speaker normalisation suits acted "
        "corpora where every speaker shows every emotion, not natural speech).",
    )
    speakers_version = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Raised whenever a clip changes speaker: feature caches normalised per "
        "speaker reload.",
    )
    targets_version = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Raised whenever one of the project's targets is saved or deleted: each "
        "web process's copy of the targets (annotate.project_config) reloads.",
    )
    prior = models.ForeignKey(
        "annotate.Prior",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="projects",
        help_text="A model from earlier corpora the project starts from (learner.prior); "
        "each retraining keeps it only where it helps on the development speakers.",
    )
    regressor = models.CharField(
        max_length=20,
        default="linear_clipped",
        help_text="learner.regressors name: linear_clipped, linear, pls, svr, mlp, ...",
    )
    paused = models.BooleanField(
        default=False,
        help_text="While paused, raters get no clips and the learner does not retrain.",
    )
    queue_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # How many clips had human labels at the last queue refresh; null: the next one runs
    # whatever the labels' growth (annotate.services.queue).
    queue_refreshed_labelled = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # When the last pass of what follows ratings (annotate.services.catch_up) began: a
    # request made before then is served by it.
    ratings_processed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the last pass that ran at once was claimed: two requests at the same instant
    # start one pass, not two side by side (annotate.services.catch_up).
    after_ratings_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When a pass deferred to keep passes CONCORD_AFTER_RATINGS_SECONDS apart is due; null
    # once it has begun. Requests made while one is pending leave their rating to it.
    after_ratings_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_raters__gte=1) & Q(max_raters__gte=F("min_raters")),
                name="project_raters_range",
            ),
            models.CheckConstraint(
                condition=Q(agreement_target__gte=0) & Q(agreement_target__lte=1),
                name="project_agreement_target_range",
            ),
            models.CheckConstraint(
                condition=Q(rater_panel__gte=1), name="project_rater_panel_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # targets_version is raised in the database by a target's save or delete only: a
        # whole save of a project read before that must not set it back.
        whole = not args and kwargs.get("update_fields") is None and not kwargs.get("force_insert")
        if whole and not self._state.adding:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "targets_version"
            ]
        super().save(*args, **kwargs)


class Target(models.Model):
    """A rated dimension of a project (arousal, valence, ...) with its scale."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="targets")
    name = models.SlugField(max_length=40)
    scale_min = models.FloatField(default=-1.0)
    scale_max = models.FloatField(default=1.0)
    anchor_low = models.CharField(max_length=60, blank=True)
    anchor_high = models.CharField(max_length=60, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    rater_noise = models.FloatField(
        null=True,
        editable=False,
        help_text="The crowd's rating noise: pooled SD of one rating around its clip's "
        "mean (scale units); null while unknown.",
    )
    rater_noise_clips = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Clips with at least two ratings the noise was estimated from.",
    )

    class Meta:
        ordering = ["project_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="target_unique_name"),
            models.CheckConstraint(
                condition=Q(scale_max__gt=F("scale_min")), name="target_scale_nonempty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.name}:{self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            super().save(*args, **kwargs)
            _targets_changed(self.project_id)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic():
            deleted = super().delete(*args, **kwargs)
            _targets_changed(self.project_id)
        return deleted


def _targets_changed(project_id: int) -> None:
    # After the target's own write, in its transaction: a reader that sees the new
    # version also sees the new targets (annotate.project_config).
    Project.objects.filter(pk=project_id).update(targets_version=F("targets_version") + 1)
