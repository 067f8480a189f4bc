"""Ratings on leases, the leased audio, and a user's own ratings."""

import io
from typing import IO

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import (
    assignment_get_for_rater,
    clip_get_for_staff,
    project_get_for_member,
    signed_in,
    user_role,
)
from annotate.api.auth import RatingThrottle
from annotate.api.filters import RatingFilter, filtered
from annotate.api.inputs import RatingInput
from annotate.api.parsers import SafeJSONParser
from annotate.api.representations import rating_representation
from annotate.api.serializers import ErrorSerializer, RatingSerializer, StaffRatingSerializer
from annotate.models import RatingSource, Role
from annotate.selectors import ratings_visible_to
from annotate.services.rater_audio import rater_audio_wav
from annotate.services.ratings import rating_submit

# An object id as the filters take it (annotate.api.filters.IdFilter): a whole number >= 1.
ID = {"type": "integer", "minimum": 1}


class RatingCreateApi(APIView):
    """Rate the asking rater's own lease; anyone else's lease is the same 404 as none.
    Throttled per rater (CONCORD_RATING_RATE, beyond what a listening human reaches)."""

    throttle_classes = (RatingThrottle,)
    # JSON only: `time_spent_ms` must be a JSON integer, which a form cannot send.
    parser_classes = (SafeJSONParser,)

    @extend_schema(
        request=RatingInput,
        responses={
            201: RatingSerializer,
            200: RatingSerializer,
            409: OpenApiResponse(ErrorSerializer, description="the lease expired"),
        },
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_for_rater(user=signed_in(request), assignment_id=assignment_id)
        data = RatingInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = rating_submit(
            rater=signed_in(request),
            assignment=assignment,
            values=data.validated_data["values"],
            client_token=data.validated_data["client_token"],
            time_spent_ms=data.validated_data.get("time_spent_ms"),
        )
        return Response(
            rating_representation(result.rating),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


def _wav_response(wav: IO[bytes], *, filename: str) -> FileResponse:
    """A WAV, always as audio/wav under a neutral name: never the stored name (the
    original's sha256, which public corpora publish) nor the original's."""
    response = FileResponse(wav, content_type="audio/wav", filename=filename)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class AssignmentAudioApi(APIView):
    """The leased clip's audio, for the rater holding the lease only, while it runs."""

    @extend_schema(responses={(200, "audio/wav"): bytes})
    def get(self, request: Request, assignment_id: int) -> FileResponse:
        assignment = assignment_get_for_rater(
            user=signed_in(request), assignment_id=assignment_id, live=True
        )
        return _wav_response(
            io.BytesIO(rater_audio_wav(assignment=assignment)), filename="clip.wav"
        )


class ClipAudioApi(APIView):
    """Any clip's audio, for the researchers and admins of its project."""

    @extend_schema(responses={(200, "audio/wav"): bytes})
    def get(self, request: Request, clip_id: int) -> FileResponse:
        clip = clip_get_for_staff(user=signed_in(request), clip_id=clip_id)
        return _wav_response(clip.audio.open("rb"), filename=f"clip-{clip.pk}.wav")


class RatingListItem(RatingSerializer):
    """A rating as the list gives it (schema only): `rater` and `source` are there for
    researchers and admins (StaffRatingSerializer), not for raters (RatingSerializer)."""

    rater = serializers.IntegerField(required=False)
    source = serializers.ChoiceField(choices=RatingSource.choices, required=False)  # type: ignore[assignment]  # a field, not Field.source

    class Meta(RatingSerializer.Meta):
        fields = [*RatingSerializer.Meta.fields, "rater", "source"]


@extend_schema(
    parameters=[
        OpenApiParameter("project", ID, required=False, description="A project of yours."),
        OpenApiParameter("clip", ID, required=False, description="One clip's ratings."),
    ],
    responses={
        200: RatingListItem(many=True),
        400: ErrorSerializer,
        404: ErrorSerializer,
    },
)
class RatingListApi(ListAPIView):
    """Raters list their own ratings; researchers those of their projects; admins all.

    Filters (annotate.api.filters.RatingFilter): `?project=N` narrows to one project the
    user is a member of (else 404), `?clip=N` to one clip; a value that is not an id is a
    400 `bad_filter`.
    """

    def get_serializer_class(self):
        if user_role(signed_in(self.request)) == Role.RATER:
            return RatingSerializer
        return StaffRatingSerializer

    def get_queryset(self):
        user = signed_in(self.request)
        ratings, wanted = filtered(
            RatingFilter, self.request.query_params, ratings_visible_to(user=user)
        )
        if wanted.get("project") is not None:
            project = project_get_for_member(user=user, project_id=wanted["project"])
            ratings = ratings.filter(clip__project=project)
        return ratings
