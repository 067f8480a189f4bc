"""Exports of a project's labels and ratings, streamed as CSV or JSON (researchers and
admins of the project)."""

from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from annotate.access import project_get_for_staff, signed_in
from annotate.api.serializers import ErrorSerializer
from annotate.errors import ValidationError
from annotate.models import Project
from annotate.services.export import (
    CONTENT_TYPES,
    ExportFormat,
    labels_export,
    ratings_export,
)

FLAG_TRUE = {"1", "true", "yes", "on"}
FLAG_FALSE = {"", "0", "false", "no", "off"}


class _FormatIsAParameter(BaseContentNegotiation):
    """`?format=` chooses the export, not a DRF renderer, and refusals are always JSON."""

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> None:
        return None  # GET only: nothing to parse


def _format(request: Request) -> ExportFormat:
    value = request.query_params.get("format", ExportFormat.CSV)
    try:
        return ExportFormat(value)
    except ValueError:
        raise ValidationError(
            f"format must be csv or json, got {value!r}", code="bad_format"
        ) from None


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "").lower()
    if value not in FLAG_TRUE | FLAG_FALSE:
        raise ValidationError(f"{name} must be 1 or 0, got {value!r}", code=f"bad_{name}")
    return value in FLAG_TRUE


def _streamed(
    lines: Iterator[str], *, project: Project, kind: str, fmt: ExportFormat
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type=CONTENT_TYPES[fmt])
    name = slugify(project.name) or f"project-{project.pk}"
    response["Content-Disposition"] = f'attachment; filename="{name}-{kind}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


FORMAT_PARAMETER = OpenApiParameter(
    "format", str, enum=["csv", "json"], default="csv", description="csv or json"
)
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="a bad parameter"),
    403: OpenApiResponse(ErrorSerializer, description="raters may not export"),
    404: OpenApiResponse(ErrorSerializer, description="no such project, or not yours"),
}


class LabelExportRow(serializers.Serializer):
    clip_id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    speaker = serializers.CharField()
    target = serializers.CharField()
    value = serializers.FloatField()
    source = serializers.ChoiceField(choices=["human", "machine"])  # type: ignore[assignment]  # a column, not Field.source
    standard_error = serializers.FloatField(
        allow_null=True,
        help_text="Human labels: standard error of the label from its ratings and the "
        "raters' noise (label units); null for machine labels and below two ratings "
        "while the crowd's noise is unknown.",
    )
    confidence = serializers.FloatField(
        allow_null=True,
        help_text="Machine labels: calibrated expected absolute error (label units).",
    )
    model_version = serializers.CharField(allow_null=True)
    n_ratings = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True, help_text="null below two ratings")
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "LabelExportRow"


class RatingExportRow(serializers.Serializer):
    rating_id = serializers.IntegerField()
    clip_id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    rater = serializers.CharField(
        help_text="The rater's user id as text, or with pseudonymise=1 a stable "
        "per-project pseudonym"
    )
    target_values = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Not a column itself: one column per target of the project, named "
        "after the target, with the rating's value (null where not rated).",
    )
    time_spent_ms = serializers.IntegerField(allow_null=True)
    source = serializers.ChoiceField(choices=["rater", "import"])  # type: ignore[assignment]  # a column, not Field.source
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "RatingExportRow"


class _ExportApi(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _FormatIsAParameter


class ProjectLabelExportApi(_ExportApi):
    """One row per clip and target with a label: value, source, standard error or
    confidence, model version, ratings and agreement. CSV, or JSON as one array of
    objects; streamed, so any size of project exports in constant memory."""

    @extend_schema(
        parameters=[
            FORMAT_PARAMETER,
            OpenApiParameter(
                "include_revoked", bool, default=False, description="also revoked labels"
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): LabelExportRow(many=True),
            **ERRORS,
        },
    )
    def get(self, request: Request, project_id: int) -> StreamingHttpResponse:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        fmt = _format(request)
        lines = labels_export(
            project=project, fmt=fmt, include_revoked=_flag(request, "include_revoked")
        )
        return _streamed(lines, project=project, kind="labels", fmt=fmt)


class ProjectRatingExportApi(_ExportApi):
    """One row per rating: clip, rater (or a per-project pseudonym), one column per
    target, time spent, source. CSV, or JSON as one array of objects; streamed."""

    @extend_schema(
        parameters=[
            FORMAT_PARAMETER,
            OpenApiParameter(
                "pseudonymise",
                bool,
                default=False,
                description="replace rater ids by stable per-project pseudonyms",
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): RatingExportRow(many=True),
            **ERRORS,
        },
    )
    def get(self, request: Request, project_id: int) -> StreamingHttpResponse:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        fmt = _format(request)
        lines = ratings_export(
            project=project, fmt=fmt, pseudonymise=_flag(request, "pseudonymise")
        )
        return _streamed(lines, project=project, kind="ratings", fmt=fmt)
