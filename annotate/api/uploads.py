"""Researchers upload audio files into a project."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_staff
from annotate.services.ingest import clips_import, upload_sources, upload_too_large

ImportOutput = inline_serializer(
    "ImportReport",
    {
        "created": serializers.ListField(child=serializers.DictField()),
        "skipped": serializers.ListField(child=serializers.DictField()),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)


class ClipUploadApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ClipUpload", {"file": serializers.ListField(child=serializers.FileField())}
            )
        },
        responses={201: ImportOutput, 400: ImportOutput, 413: None},
    )
    def post(self, request: Request, project_id: int) -> Response:
        """Upload one or more `file` parts; each is decoded, stored and reported."""
        project = project_get_for_staff(user=request.user, project_id=project_id)
        files = request.FILES.getlist("file")
        if not files:
            return Response(
                {"detail": "send one or more audio files as 'file' parts", "code": "no_files"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        limit = settings.CONCORD_MAX_UPLOAD_BYTES
        if too_large := upload_too_large(files, limit):
            names = "; ".join(f"{name}: {reason}" for name, reason in too_large)
            return Response(
                {"detail": names, "code": "too_large"},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        report = clips_import(project=project, sources=upload_sources(files), workers=1)
        nothing = not report.created and report.errors
        return Response(
            report.as_dict(),
            status=status.HTTP_400_BAD_REQUEST if nothing else status.HTTP_201_CREATED,
        )
