"""Admin actions on a running project: settings, pause and resume, revoking a model
version's machine labels; and the audit log researchers and admins read."""

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import (
    project_get_for_admin,
    project_get_for_staff,
    projects_visible_to,
    require_admin,
    signed_in,
)
from annotate.api.parsers import SafeJSONParser
from annotate.api.serializers import ErrorSerializer
from annotate.errors import NotFound
from annotate.models import AuditEntry, ModelVersion
from annotate.selectors_operations import project_audit_log, project_versions_live_labels
from annotate.services.project_settings import (
    SETTINGS,
    SettingsInvalid,
    project_pause,
    project_resume,
    project_settings,
    project_settings_update,
)
from annotate.services.revoke import model_version_revoke, model_version_revoke_preview

REFUSALS = {403: ErrorSerializer, 404: ErrorSerializer}


SETTING_HELP = {
    "self_label_max_error": "The learner labels a clip itself only where its expected "
    "absolute error is at most this (label units, > 0, at most the widest scale).",
    "machine_label_target_error": "Target mean absolute error of machine labels (> 0, at "
    "most the widest scale).",
    "machine_labels_as_good_as_humans": "A machine label must also be as good as a "
    "rater_panel-rater human label.",
    "machine_label_revoke_tolerance": "A newer model that differs by more revokes a label.",
    "min_raters": "Ratings a clip starts with; at most max_raters.",
    "max_raters": "Ratings a clip may get at most; at least min_raters.",
    "agreement_target": "Agreement a clip's ratings should reach.",
    "rater_panel": "How many raters' mean a machine label must match.",
    "human_budget_per_round": "Clips sent to humans per learner round.",
    "retrain_after_labels": "Retrain after this many new ratings (0: never).",
    "lease_seconds": "How long a rater holds a clip.",
}


@extend_schema_field({"type": "number", "format": "double", "minimum": 0, "exclusiveMinimum": True})
class PositiveFloatField(serializers.FloatField):
    """A float above 0 (0 itself refused), as the schema says."""


def _setting_field(name: str, *, change: bool) -> serializers.Field:
    """The serializer field of one setting (`SETTINGS`): in a `change`, optional and
    within its range (for the schema: the service checks values); in the settings read
    back, always there."""
    rule, help_text = SETTINGS[name], SETTING_HELP[name]
    required = not change
    if rule.kind is bool:
        return serializers.BooleanField(required=required, help_text=help_text)
    if change and rule.low_open:
        if rule.low != 0 or rule.high is not None:
            raise ImproperlyConfigured(f"{name}: PositiveFloatField documents (0, inf) only")
        return PositiveFloatField(required=required, help_text=help_text)
    if rule.kind is int:
        whole = serializers.IntegerField(required=required, help_text=help_text)
        if change:
            whole.min_value = None if rule.low is None else int(rule.low)
            whole.max_value = None if rule.high is None else int(rule.high)
        return whole
    number = serializers.FloatField(required=required, help_text=help_text)
    if change:
        number.min_value, number.max_value = rule.low, rule.high
    return number


class ProjectSettingsSerializer(serializers.Serializer):
    """A change to a project's settings: only the fields sent change, each within its
    range (annotate.services.project_settings.SETTINGS); no other field is taken."""

    takes_no_other_field = True
    min_fields = 1  # an empty change is refused (400 `no_settings`)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: _setting_field(name, change=True) for name in SETTINGS}

    class Meta:
        ref_name = "ProjectSettingsChange"


class ProjectSettingsOutput(serializers.Serializer):
    """A project's editable settings, and whether it is paused."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = {name: _setting_field(name, change=False) for name in SETTINGS}
        fields["paused"] = serializers.BooleanField(help_text="Raters get no clips while paused.")
        return fields

    class Meta:
        ref_name = "ProjectSettings"


class SettingsErrorSerializer(ErrorSerializer):
    fields = serializers.DictField(  # type: ignore[assignment]  # a response field named "fields"
        child=serializers.CharField(),
        required=False,  # absent from a 400 the parser gives (`parse_error`)
        help_text="Each refused setting with its reason.",
    )

    class Meta:
        ref_name = "SettingsError"


class ProjectSettingsApi(APIView):
    """Read a project's settings (researchers and admins); change some (admins)."""

    # JSON only: the settings are typed (numbers, booleans), which a form cannot send.
    parser_classes = (SafeJSONParser,)

    @extend_schema(responses={200: ProjectSettingsOutput, **REFUSALS})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        return Response(ProjectSettingsOutput(project_settings(project)).data)

    @extend_schema(
        request=ProjectSettingsSerializer,
        responses={200: ProjectSettingsOutput, 400: SettingsErrorSerializer, **REFUSALS},
        description="Only the fields sent change, in one transaction, audit-logged with "
        "before and after. Unknown fields, values out of range and min_raters above "
        "max_raters are refused (400 bad_settings, every refused field in `fields`).",
    )
    def patch(self, request: Request, project_id: int) -> Response:
        user = signed_in(request)
        project = project_get_for_admin(user=user, project_id=project_id)
        try:
            project = project_settings_update(project=project, changes=request.data, actor=user)
        except SettingsInvalid as exc:
            return Response(
                {"detail": exc.message, "code": exc.code, "fields": exc.fields}, status=400
            )
        return Response(ProjectSettingsOutput(project_settings(project)).data)


class PauseOutput(serializers.Serializer):
    paused = serializers.BooleanField()

    class Meta:
        ref_name = "ProjectPause"


class ProjectPauseApi(APIView):
    """Admins: pause the project. Raters asking for a clip get 409 `project_paused`; new
    ratings start no retraining. Pausing a paused project is a no-op."""

    @extend_schema(request=None, responses={200: PauseOutput, **REFUSALS})
    def post(self, request: Request, project_id: int) -> Response:
        user = signed_in(request)
        project = project_get_for_admin(user=user, project_id=project_id)
        return Response(PauseOutput(project_pause(project=project, actor=user)).data)


class ProjectResumeApi(APIView):
    """Admins: resume a paused project."""

    @extend_schema(request=None, responses={200: PauseOutput, **REFUSALS})
    def post(self, request: Request, project_id: int) -> Response:
        user = signed_in(request)
        project = project_get_for_admin(user=user, project_id=project_id)
        return Response(PauseOutput(project_resume(project=project, actor=user)).data)


def _version_get_for_admin(*, request: Request, version_id: int) -> ModelVersion:
    """A model version of a project the user sees (NotFound otherwise, the same for a
    missing one), then admins only (403)."""
    user = signed_in(request)
    version = (
        ModelVersion.objects.select_related("project")
        .filter(pk=version_id, project__in=projects_visible_to(user))
        .first()
    )
    if version is None:
        raise NotFound("this model version does not exist or is not yours", code="no_model_version")
    require_admin(user)
    return version


class RevocationOutput(serializers.Serializer):
    model_version = serializers.CharField()
    labels = serializers.IntegerField(help_text="Live machine labels revoked.")
    clips = serializers.IntegerField(help_text="Clips that carried them.")
    requeued = serializers.IntegerField(
        help_text="Of those, machine-labelled clips sent back to the human queue (clips "
        "people have started or hold keep their state)."
    )
    deactivated = serializers.BooleanField(
        help_text="The version was active and is no longer: the project has no active model "
        "until the next retraining promotes one."
    )

    class Meta:
        ref_name = "Revocation"


class ModelVersionRevokeApi(APIView):
    """Admins: revoke every live machine label of a model version (GET: what it would do)."""

    @extend_schema(responses={200: RevocationOutput, **REFUSALS})
    def get(self, request: Request, version_id: int) -> Response:
        version = _version_get_for_admin(request=request, version_id=version_id)
        return Response(RevocationOutput(model_version_revoke_preview(version=version)).data)

    @extend_schema(
        request=None,
        responses={200: RevocationOutput, 409: ErrorSerializer, **REFUSALS},
        description="Its clips go back to the human queue, the version is deactivated if "
        "it is the active one (a revoked version never labels again), audit-logged with "
        "the counts; 409 nothing_to_revoke when it has no live machine label and is not "
        "active.",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = _version_get_for_admin(request=request, version_id=version_id)
        result = model_version_revoke(version=version, actor=signed_in(request))
        return Response(RevocationOutput(result).data)


class VersionLabelsOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    dev_ccc = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="Development CCC per target."
    )
    live_machine_labels = serializers.IntegerField()
    clips = serializers.IntegerField(help_text="Clips carrying its live machine labels.")
    revoked_at = serializers.DateTimeField(
        allow_null=True, help_text="When an admin last revoked its machine labels."
    )

    class Meta:
        ref_name = "ModelVersionLabels"


class ProjectVersionLabelsApi(APIView):
    """Researchers and admins: each model version with its live machine labels."""

    @extend_schema(responses={200: VersionLabelsOutput(many=True), **REFUSALS})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        rows = project_versions_live_labels(project=project)
        return Response(VersionLabelsOutput(rows, many=True).data)


class AuditEntryOutput(serializers.ModelSerializer):
    actor = serializers.CharField(
        source="actor.username", read_only=True, allow_null=True, help_text="null: the system."
    )

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "before",
            "after",
        ]
        ref_name = "AuditEntry"


class ProjectAuditLogApi(ListAPIView):
    """Researchers and admins: who changed what in the project and when, newest first,
    with the changed values before and after (`?page=`, `?page_size=`)."""

    serializer_class = AuditEntryOutput

    @extend_schema(responses={200: AuditEntryOutput(many=True), **REFUSALS})
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        project = project_get_for_staff(
            user=signed_in(self.request), project_id=self.kwargs["project_id"]
        )
        return project_audit_log(project=project)
