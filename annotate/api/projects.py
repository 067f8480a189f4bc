"""Projects, the next clip for a rater, progress and stats."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_member, project_get_for_staff, projects_visible_to
from annotate.api.serializers import ProjectSerializer, TargetSerializer
from annotate.selectors import project_raters, project_stats, rater_progress
from annotate.services.assignments import assignment_next


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectSerializer(many=True))
    def get(self, request: Request) -> Response:
        projects = projects_visible_to(request.user).prefetch_related("targets")
        return Response(ProjectSerializer(projects, many=True, context={"request": request}).data)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_member(user=request.user, project_id=project_id)
        return Response(ProjectSerializer(project, context={"request": request}).data)


class NextClipOutput(serializers.Serializer):
    assignment = inline_serializer(
        "NextAssignment",
        {"id": serializers.IntegerField(), "expires_at": serializers.DateTimeField()},
    )
    clip = inline_serializer(
        "NextClip",
        {
            "id": serializers.IntegerField(),
            "audio_url": serializers.URLField(),
            "duration_s": serializers.FloatField(),
            "peaks": serializers.ListField(child=serializers.FloatField()),
        },
    )
    targets = TargetSerializer(many=True)
    rating_mode = serializers.CharField()
    progress = serializers.DictField(child=serializers.IntegerField())


class ProjectNextApi(APIView):
    """Lease the next clip to the asking rater. Reveals nothing about its labels or origin."""

    @extend_schema(request=None, responses={200: NextClipOutput, 204: None})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_member(user=request.user, project_id=project_id)
        assignment = assignment_next(rater=request.user, project=project)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        clip = assignment.clip
        audio_url = reverse("api:assignment-audio", args=[assignment.pk])
        return Response(
            {
                "assignment": {"id": assignment.pk, "expires_at": assignment.expires_at},
                "clip": {
                    "id": clip.pk,
                    "audio_url": request.build_absolute_uri(audio_url),
                    "duration_s": clip.duration_s,
                    "peaks": clip.peaks,
                },
                "targets": TargetSerializer(project.targets.all(), many=True).data,
                "rating_mode": project.rating_mode,
                "progress": rater_progress(rater=request.user, project=project),
            }
        )


class ProjectProgressApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Progress",
            {
                "done_today": serializers.IntegerField(),
                "done_total": serializers.IntegerField(),
                "left": serializers.IntegerField(),
            },
        )
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_member(user=request.user, project_id=project_id)
        return Response(rater_progress(rater=request.user, project=project))


class ProjectStatsApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "ProjectStats",
            {
                "clips": serializers.IntegerField(),
                "ratings": serializers.IntegerField(),
                "states": serializers.DictField(child=serializers.IntegerField()),
                "labels": serializers.DictField(child=serializers.IntegerField()),
                "raters": serializers.IntegerField(),
            },
        )
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=request.user, project_id=project_id)
        return Response(project_stats(project=project))


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
        project = project_get_for_staff(user=request.user, project_id=project_id)
        return Response(ProjectRaterOutput(project_raters(project=project), many=True).data)
