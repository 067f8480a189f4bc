"""Ratings on leases, the leased audio, and a user's own ratings."""

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
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
from annotate.api.filters import RatingFilter, filtered
from annotate.api.inputs import RatingInput
from annotate.api.serializers import ErrorSerializer, RatingSerializer, StaffRatingSerializer
from annotate.models import Clip, Role
from annotate.selectors import ratings_visible_to
from annotate.services.ratings import rating_submit


class RatingCreateApi(APIView):
    """Rate the asking rater's own lease; anyone else's lease is the same 404 as none."""

    @extend_schema(request=RatingInput, responses={201: RatingSerializer, 200: RatingSerializer})
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
            RatingSerializer(result.rating).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


def _wav_response(clip: Clip) -> FileResponse:
    response = FileResponse(clip.audio.open("rb"), content_type="audio/wav")
    response["Cache-Control"] = "private, max-age=3600"
    return response


class AssignmentAudioApi(APIView):
    """The leased clip's audio, for the rater holding the lease only."""

    @extend_schema(responses={(200, "audio/wav"): bytes})
    def get(self, request: Request, assignment_id: int) -> FileResponse:
        assignment = assignment_get_for_rater(user=signed_in(request), assignment_id=assignment_id)
        return _wav_response(assignment.clip)


class ClipAudioApi(APIView):
    """Any clip's audio, for the researchers and admins of its project."""

    @extend_schema(responses={(200, "audio/wav"): bytes})
    def get(self, request: Request, clip_id: int) -> FileResponse:
        return _wav_response(clip_get_for_staff(user=signed_in(request), clip_id=clip_id))


@extend_schema(
    parameters=[
        OpenApiParameter("project", int, required=False, description="A project of yours."),
        OpenApiParameter("clip", int, required=False, description="One clip's ratings."),
    ],
    responses={
        200: StaffRatingSerializer(many=True),
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
