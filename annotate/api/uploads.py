"""Researchers upload audio files into a project.

Limits, each checked before anything is stored: the whole request
(CONCORD_MAX_UPLOAD_REQUEST_BYTES, judged from Content-Length before the body is read),
the number of files (CONCORD_MAX_UPLOAD_FILES) and each file (CONCORD_MAX_UPLOAD_BYTES):
413 with a sentence naming the limit. Then every file is taken or refused on its own
(annotate.services.ingest.clips_import): the report lists exactly what went in.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_staff, signed_in
from annotate.api.parsers import SafeFormParser, UploadMultiPartParser, content_length
from annotate.api.serializers import ErrorSerializer
from annotate.errors import TooLarge, ValidationError
from annotate.services.ingest import (
    clips_import,
    upload_request_too_large,
    upload_sources,
    upload_too_large,
    upload_too_many,
)


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
    parser_classes = [UploadMultiPartParser, SafeFormParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: a session's CSRF check would read the whole body.
        limit = settings.CONCORD_MAX_UPLOAD_REQUEST_BYTES
        if problem := upload_request_too_large(content_length({"request": request}), limit):
            raise TooLarge(problem, code="request_too_large")
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        # Django's own limits, met while parsing, in the API's shape and with a 413.
        if isinstance(exc, TooManyFilesSent):
            exc = TooLarge(
                upload_too_many(None, settings.DATA_UPLOAD_MAX_NUMBER_FILES), code="too_many_files"
            )
        elif isinstance(exc, RequestDataTooBig):
            exc = TooLarge("the form fields are too large", code="request_too_large")
        return super().handle_exception(exc)

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

        Each file is taken or refused on its own: `created` lists exactly the clips
        stored, `skipped` the duplicates, `errors` every refused file with its reason.
        400 with the report when no file could be stored, or an error without files;
        413 (nothing stored) when the request, the number of files or a file is over
        its limit.
        """
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        files = request.FILES.getlist("file")
        if not files:
            raise ValidationError("send one or more audio files as 'file' parts", code="no_files")
        count = sum(len(parts) for _, parts in request.FILES.lists())
        if count > settings.CONCORD_MAX_UPLOAD_FILES:
            raise TooLarge(
                upload_too_many(count, settings.CONCORD_MAX_UPLOAD_FILES), code="too_many_files"
            )
        limit = settings.CONCORD_MAX_UPLOAD_BYTES
        if too_large := upload_too_large(files, limit):
            raise TooLarge(
                "; ".join(f"{name}: {reason}" for name, reason in too_large), code="too_large"
            )
        report = clips_import(
            project=project,
            sources=upload_sources(files),
            workers=1,
            time_budget_s=settings.CONCORD_MAX_UPLOAD_SECONDS,
        )
        nothing = not report.created and report.errors
        return Response(
            ImportReportOutput(report.as_dict()).data,
            status=status.HTTP_400_BAD_REQUEST if nothing else status.HTTP_201_CREATED,
        )
