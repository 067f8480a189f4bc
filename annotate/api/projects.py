"""Projects, the next clip for a rater, progress and stats."""

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import (
    project_get_for_member,
    project_get_for_rater,
    project_get_for_staff,
    projects_visible_to,
    signed_in,
)
from annotate.api.representations import next_clip_representation
from annotate.api.serializers import ErrorSerializer, ProjectSerializer, TargetSerializer
from annotate.project_config import project_targets
from annotate.selectors import project_raters, project_stats, rater_progress
from annotate.services.assignments import assignment_next
from annotate.services.project_settings import project_require_running


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectSerializer(many=True))
    def get(self, request: Request) -> Response:
        projects = (
            projects_visible_to(signed_in(request))
            .select_related("prior")
            .prefetch_related("targets")
        )
        return Response(ProjectSerializer(projects, many=True, context={"request": request}).data)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_member(user=signed_in(request), project_id=project_id)
        return Response(ProjectSerializer(project, context={"request": request}).data)


class ProgressOutput(serializers.Serializer):
    done_today = serializers.IntegerField()
    done_total = serializers.IntegerField()
    left = serializers.IntegerField()

    class Meta:
        ref_name = "Progress"


class NextAssignmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()

    class Meta:
        ref_name = "NextAssignment"


class NextClipAudioOutput(serializers.Serializer):
    id = serializers.IntegerField()
    audio_url = serializers.URLField()
    duration_s = serializers.FloatField()
    peaks = serializers.ListField(child=serializers.FloatField())

    class Meta:
        ref_name = "NextClip"


class NextClipOutput(serializers.Serializer):
    """What a rater gets with a lease: nothing about the clip's labels or origin."""

    assignment = NextAssignmentOutput()
    clip = NextClipAudioOutput()
    targets = TargetSerializer(many=True)
    progress = ProgressOutput()


class ProjectNextApi(APIView):
    """Lease the next clip to the asking rater. Reveals nothing about its labels or origin."""

    @extend_schema(
        request=None,
        responses={
            200: NextClipOutput,
            204: None,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
        description="204 when no clip the rater has not rated needs a human; 403 "
        "`rater_blocked` (with a sentence to show) when an admin blocked the rater in this "
        "project; 409 `project_paused` (with a sentence to show) while the project's admins "
        "have paused it.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        rater = signed_in(request)
        project, known = project_get_for_rater(
            user=rater, project_id=project_id, now=timezone.now()
        )
        project_require_running(project)
        assignment = assignment_next(rater=rater, project=project, known=known)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        clip = assignment.clip
        audio_url = reverse("api:assignment-audio", args=[assignment.pk])
        return Response(
            next_clip_representation(
                assignment=assignment,
                clip=clip,
                audio_url=request.build_absolute_uri(audio_url),
                # To 0.1 s: a duration to the millisecond singles a clip out of a public
                # corpus.
                duration_s=max(round(clip.duration_s, 1), 0.1),
                targets=project_targets(project),
                progress=rater_progress(rater=rater, project=project),
            )
        )


class ProjectProgressApi(APIView):
    @extend_schema(responses=ProgressOutput)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_member(user=signed_in(request), project_id=project_id)
        return Response(
            ProgressOutput(rater_progress(rater=signed_in(request), project=project)).data
        )


class ProjectStatsOutput(serializers.Serializer):
    clips = serializers.IntegerField()
    ratings = serializers.IntegerField()
    states = serializers.DictField(child=serializers.IntegerField())
    labels = serializers.DictField(child=serializers.IntegerField())
    raters = serializers.IntegerField()

    class Meta:
        ref_name = "ProjectStats"


class ProjectStatsApi(APIView):
    @extend_schema(responses=ProjectStatsOutput)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        return Response(ProjectStatsOutput(project_stats(project=project)).data)


class ProjectRaterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    ratings = serializers.IntegerField()
    reliability = serializers.FloatField(allow_null=True)
    reliability_clips = serializers.IntegerField()
    noise = serializers.DictField(child=serializers.FloatField(allow_null=True))
    worst_noise = serializers.FloatField(allow_null=True)


class ProjectRatersApi(APIView):
    """Staff: the project's raters, the noisiest first (learner.raters.rater_noise_each)."""

    @extend_schema(responses=ProjectRaterOutput(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        return Response(ProjectRaterOutput(project_raters(project=project), many=True).data)
