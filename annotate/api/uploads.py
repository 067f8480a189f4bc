"""Researchers upload audio files into a project."""

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_staff, signed_in
from annotate.api.serializers import ErrorSerializer
from annotate.errors import TooLarge, ValidationError
from annotate.services.ingest import clips_import, upload_sources, upload_too_large


class ImportedClipOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()

    class Meta:
        ref_name = "ImportedClip"


class ImportRefusalOutput(serializers.Serializer):
    name = serializers.CharField()
    reason = serializers.CharField()

    class Meta:
        ref_name = "ImportRefusal"


class ImportReportOutput(serializers.Serializer):
    """Every uploaded file, reported as created, skipped (a duplicate) or an error."""

    created = ImportedClipOutput(many=True)
    skipped = ImportRefusalOutput(many=True)
    # DRF's metaclass moves declared fields off the class, so this field does not
    # shadow Serializer.errors at run time; mypy only sees the class attribute.
    errors = ImportRefusalOutput(many=True)  # type: ignore[assignment]
    ratings = serializers.IntegerField()

    class Meta:
        ref_name = "ImportReport"


class ClipUploadApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ClipUpload", {"file": serializers.ListField(child=serializers.FileField())}
            )
        },
        responses={
            201: ImportReportOutput,
            400: PolymorphicProxySerializer(
                "ImportFailed",
                serializers=[ImportReportOutput, ErrorSerializer],
                resource_type_field_name=None,
            ),
            413: ErrorSerializer,
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        """Upload one or more `file` parts; each is decoded, stored and reported.

        400 with the report when no file could be stored, or an error without files.
        """
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        files = request.FILES.getlist("file")
        if not files:
            raise ValidationError("send one or more audio files as 'file' parts", code="no_files")
        limit = settings.CONCORD_MAX_UPLOAD_BYTES
        if too_large := upload_too_large(files, limit):
            raise TooLarge(
                "; ".join(f"{name}: {reason}" for name, reason in too_large), code="too_large"
            )
        report = clips_import(project=project, sources=upload_sources(files), workers=1)
        nothing = not report.created and report.errors
        return Response(
            ImportReportOutput(report.as_dict()).data,
            status=status.HTTP_400_BAD_REQUEST if nothing else status.HTTP_201_CREATED,
        )
