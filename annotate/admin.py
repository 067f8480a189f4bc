from django.contrib import admin

from annotate.models import (
    Assignment,
    Clip,
    Label,
    ModelVersion,
    Project,
    RaterProfile,
    Rating,
    ReferenceLabel,
    Target,
    TrainingRun,
)
from annotate.services.features import project_speakers_changed


class TargetInline(admin.TabularInline):
    model = Target
    extra = 0
    readonly_fields = ["rater_noise", "rater_noise_clips"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "min_raters",
        "max_raters",
        "rater_panel",
        "agreement_target",
    ]
    inlines = [TargetInline]
    filter_horizontal = ["members"]


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
