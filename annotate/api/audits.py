"""Machine-label audits: researchers and admins send machine-labelled clips back to
humans and read the measured machine-label error per model version."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_staff, signed_in
from annotate.api.inputs import validated_input
from annotate.api.serializers import ErrorSerializer
from annotate.selectors_audits import project_audits
from annotate.services.audits import MAX_AUDIT, machine_audit_request


class AuditTargetOutput(serializers.Serializer):
    clips = serializers.IntegerField(help_text="Completed audits with this target.")
    measured_error = serializers.FloatField(
        allow_null=True, help_text="Mean absolute machine-label error against humans."
    )
    interval_low = serializers.FloatField(allow_null=True, help_text="95 % bootstrap interval.")
    interval_high = serializers.FloatField(allow_null=True)
    claimed_error = serializers.FloatField(
        allow_null=True, help_text="Mean expected error the model claimed on the same clips."
    )
    claimed_error_all = serializers.FloatField(
        allow_null=True, help_text="Mean claimed error on every audited clip."
    )

    class Meta:
        ref_name = "AuditTarget"


class AuditVersionOutput(serializers.Serializer):
    model_version = serializers.CharField()
    is_active = serializers.BooleanField()
    audited = serializers.IntegerField()
    completed = serializers.IntegerField()
    targets = serializers.DictField(child=AuditTargetOutput())
    requested_at = serializers.DateTimeField()

    class Meta:
        ref_name = "AuditVersion"


class AuditRequestInput(serializers.Serializer):
    n = serializers.IntegerField(min_value=1, max_value=MAX_AUDIT)
    model_version = serializers.CharField(required=False, allow_blank=True)


class AuditRequestOutput(serializers.Serializer):
    created = serializers.IntegerField()
    clips = serializers.ListField(child=serializers.IntegerField())

    class Meta:
        ref_name = "AuditRequest"


class ProjectAuditsApi(APIView):
    """Researchers and admins: machine-label audits of the project."""

    @extend_schema(
        responses={200: AuditVersionOutput(many=True), 403: ErrorSerializer, 404: ErrorSerializer}
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        return Response(AuditVersionOutput(project_audits(project=project), many=True).data)

    @extend_schema(
        request=AuditRequestInput,
        responses={
            201: AuditRequestOutput,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        user = signed_in(request)
        project = project_get_for_staff(user=user, project_id=project_id)
        body = validated_input(AuditRequestInput, request.data, code="bad_audit")
        audits = machine_audit_request(
            project=project,
            by=user,
            n=body["n"],
            model_version=body.get("model_version") or None,
        )
        output = AuditRequestOutput({"created": len(audits), "clips": [a.clip_id for a in audits]})
        return Response(output.data, status=status.HTTP_201_CREATED)
