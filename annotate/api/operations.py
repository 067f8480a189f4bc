"""Admin actions on a running project: settings, pause and resume, revoking a model
version's machine labels; and the audit log researchers and admins read."""

from drf_spectacular.utils import extend_schema
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
    SettingsInvalid,
    project_pause,
    project_resume,
    project_settings,
    project_settings_update,
)
from annotate.services.revoke import model_version_revoke, model_version_revoke_preview

REFUSALS = {403: ErrorSerializer, 404: ErrorSerializer}


class ProjectSettingsSerializer(serializers.Serializer):
    """A project's editable settings (annotate.services.project_settings.SETTINGS)."""

    self_label_max_error = serializers.FloatField(
        required=False,
        help_text="The learner labels a clip itself only where its expected absolute error "
        "is at most this (label units, > 0, at most the widest scale).",
    )
    machine_label_target_error = serializers.FloatField(
        required=False, help_text="Target mean absolute error of machine labels (> 0)."
    )
    machine_labels_as_good_as_humans = serializers.BooleanField(
        required=False,
        help_text="A machine label must also be as good as a rater_panel-rater human label.",
    )
    machine_label_revoke_tolerance = serializers.FloatField(
        required=False, help_text="A newer model that differs by more revokes a label (> 0)."
    )
    min_raters = serializers.IntegerField(required=False, help_text="1..100, <= max_raters.")
    max_raters = serializers.IntegerField(required=False, help_text="1..100, >= min_raters.")
    agreement_target = serializers.FloatField(required=False, help_text="0..1.")
    rater_panel = serializers.IntegerField(required=False, help_text="1..100.")
    human_budget_per_round = serializers.IntegerField(
        required=False, help_text="Clips sent to humans per learner round (>= 1)."
    )
    retrain_after_labels = serializers.IntegerField(
        required=False, help_text="Retrain after this many new ratings (0: never)."
    )
    lease_seconds = serializers.IntegerField(
        required=False, help_text="How long a rater holds a clip (30 s to 7 days)."
    )

    class Meta:
        ref_name = "ProjectSettingsChange"


class ProjectSettingsOutput(ProjectSettingsSerializer):
    paused = serializers.BooleanField(help_text="Raters get no clips while paused.")

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
