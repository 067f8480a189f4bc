import copy

from django import forms
from django.contrib import admin

from annotate.errors import ConcordError
from annotate.learning.prior import prior_problems
from annotate.models import (
    Assignment,
    AuditEntry,
    Clip,
    Label,
    MachineLabelAudit,
    ModelVersion,
    Prior,
    Project,
    ProjectSnapshot,
    RaterBlock,
    RaterProfile,
    Rating,
    ReferenceLabel,
    Target,
    TrainingRun,
)
from annotate.services.audit import fields_of
from annotate.services.features import project_speakers_changed
from annotate.services.priors import project_prior_set
from annotate.services.project_settings import project_changes_record


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
        # Audit-log the changed fields (members are not fields of the row), before and after.
        fields = [
            f.name
            for f in Project._meta.concrete_fields
            if f.name in form.changed_data or f"{f.name}_id" in form.changed_data
        ]
        before = {}
        if change:
            before = fields_of(Project.objects.get(pk=obj.pk), fields)
        super().save_model(request, obj, form, change)
        if fields:
            project_changes_record(
                project=obj,
                before=before,
                fields=fields,
                actor=request.user,
                action="project.update" if change else "project.create",
            )
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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the app writes (runs, audit entries, snapshots): the admin only reads them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "project",
        "state",
        "outcome",
        "trigger",
        "requested_by",
        "progress",
        "created_at",
        "finished_at",
    ]
    list_filter = ["state", "outcome", "project"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "project", "actor", "action", "object_type", "object_id"]
    list_filter = ["action", "project"]
    search_fields = ["action", "object_type", "object_id", "actor__username"]


@admin.register(ProjectSnapshot)
class ProjectSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["project", "taken_at", "ratings"]
    list_filter = ["project"]


# Blocks and audits change labels and queues through their services (resettling,
# audit log): the raters and audits pages make them; here they are read.
@admin.register(RaterBlock)
class RaterBlockAdmin(ReadOnlyAdmin):
    list_display = ["rater", "project", "exclude_ratings", "reason", "blocked_by", "created_at"]
    list_filter = ["project", "exclude_ratings"]


@admin.register(MachineLabelAudit)
class MachineLabelAuditAdmin(ReadOnlyAdmin):
    list_display = ["clip", "model_version", "requested_by", "created_at", "completed_at"]
    list_filter = ["model_version"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "is_active", "created_at", "promoted_at"]
    list_filter = ["project", "is_active"]
