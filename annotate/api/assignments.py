"""Ratings on leases, the leased audio, and a user's own ratings."""

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_staff, user_role
from annotate.api.serializers import RatingSerializer, StaffRatingSerializer
from annotate.errors import NotFound
from annotate.models import Assignment, Clip, Role
from annotate.selectors import ratings_visible_to
from annotate.services.ratings import rating_submit


class RatingInput(serializers.Serializer):
    values = serializers.JSONField(help_text="{target: number} on each target's scale")
    client_token = serializers.CharField(
        max_length=64,
        help_text="Chosen by the client once per rating; a replay returns the same rating.",
    )
    time_spent_ms = serializers.IntegerField(required=False, allow_null=True)
    trace = serializers.JSONField(
        required=False, allow_null=True, help_text="{target: [values at 25 Hz]} for trace projects"
    )


class RatingCreateApi(APIView):
    @extend_schema(request=RatingInput, responses={201: RatingSerializer, 200: RatingSerializer})
    def post(self, request: Request, assignment_id: int) -> Response:
        data = RatingInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = rating_submit(
            rater=request.user, assignment_id=assignment_id, **data.validated_data
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
        assignment = (
            Assignment.objects.select_related("clip")
            .filter(pk=assignment_id, rater=request.user)
            .first()
        )
        if assignment is None:
            raise NotFound(f"assignment {assignment_id} is not yours", code="no_assignment")
        return _wav_response(assignment.clip)


class ClipAudioApi(APIView):
    """Any clip's audio, for the researchers and admins of its project."""

    @extend_schema(responses={(200, "audio/wav"): bytes})
    def get(self, request: Request, clip_id: int) -> FileResponse:
        clip = Clip.objects.filter(pk=clip_id).first()
        if clip is None:
            raise NotFound(f"clip {clip_id} does not exist", code="no_clip")
        project_get_for_staff(user=request.user, project_id=clip.project_id)
        return _wav_response(clip)


@extend_schema(parameters=[OpenApiParameter("project", int, required=False)])
class RatingListApi(ListAPIView):
    """Raters list their own ratings; researchers those of their projects; admins all."""

    def get_serializer_class(self):
        if user_role(self.request.user) == Role.RATER:
            return RatingSerializer
        return StaffRatingSerializer

    def get_queryset(self):
        project = self.request.query_params.get("project")
        return ratings_visible_to(
            user=self.request.user,
            project_id=int(project) if project and project.isdigit() else None,
        )
