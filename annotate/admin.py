import copy

from django import forms
from django.contrib import admin

from annotate.errors import ConcordError
from annotate.learning.prior import prior_problems
from annotate.models import (
    Assignment,
    Clip,
    Label,
    ModelVersion,
    Prior,
    Project,
    RaterProfile,
    Rating,
    ReferenceLabel,
    Target,
    TrainingRun,
)
from annotate.services.features import project_speakers_changed
from annotate.services.priors import project_prior_set


class TargetInline(admin.TabularInline):
    model = Target
    extra = 0
    readonly_fields = ["rater_noise", "rater_noise_clips"]


class ProjectAdminForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = "__all__"  # noqa: DJ007  # the admin edits every field

    def clean(self):
        cleaned = super().clean() or {}
        prior = cleaned.get("prior")
        if prior is not None and self.instance.pk:
            # The project as it will be saved (extractor and normalisation may change too).
            project = copy.copy(self.instance)
            for field in ("feature_extractor", "feature_normalisation"):
                if field in cleaned:
                    setattr(project, field, cleaned[field])
            problems = prior_problems(project, prior)
            if problems:
                self.add_error("prior", f"prior {prior.label} does not fit: " + "; ".join(problems))
        return cleaned


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = [
        "name",
        "min_raters",
        "max_raters",
        "rater_panel",
        "agreement_target",
        "prior",
    ]
    inlines = [TargetInline]
    filter_horizontal = ["members"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "prior" in form.changed_data:
            try:
                project_prior_set(project=obj, prior=obj.prior)  # its zero-shot model
            except ConcordError as exc:
                self.message_user(request, exc.message, level="error")


@admin.register(Prior)
class PriorAdmin(admin.ModelAdmin):
    """Priors are trained by `manage.py train_prior`; here they are read."""

    list_display = ["name", "version", "feature_normalisation", "n_clips", "created_at"]
    search_fields = ["name"]
    readonly_fields = [f.name for f in Prior._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "external_id",
        "state",
        "priority",
        "n_ratings",
        "ratings_wanted",
        "active_leases",
        "duration_s",
    ]
    list_filter = ["project", "state"]
    search_fields = ["external_id", "original_name", "sha256"]
    exclude = ["peaks"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "speaker" in form.changed_data:
            project_speakers_changed(project_id=obj.project_id)


@admin.register(RaterProfile)
class RaterProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "reliability", "reliability_n", "external_id"]
    list_filter = ["role"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "clip", "rater", "status", "expires_at"]
    list_filter = ["status", "project"]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["id", "clip", "rater", "values", "source", "created_at"]
    list_filter = ["source"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = [
        "clip",
        "target",
        "value",
        "source",
        "confidence",
        "model_version",
        "n_ratings",
        "agreement",
        "revoked_at",
    ]
    list_filter = ["source", "target"]


@admin.register(ReferenceLabel)
class ReferenceLabelAdmin(admin.ModelAdmin):
    list_display = ["clip", "target", "value"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "state", "trigger", "progress", "created_at", "finished_at"]
    list_filter = ["state", "project"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "is_active", "created_at", "promoted_at"]
    list_filter = ["project", "is_active"]
