"""Retraining: admins start runs; researchers and admins watch runs and model versions."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import (
    project_get_for_admin,
    project_get_for_staff,
    signed_in,
    training_run_get_for_staff,
)
from annotate.api.serializers import ErrorSerializer
from annotate.models import ModelVersion, RunTrigger, TrainingRun
from annotate.selectors import project_model_versions, project_training_runs
from annotate.services.training import training_run_cancel, training_run_start


class TrainingRunSerializer(serializers.ModelSerializer):
    model_version = serializers.SerializerMethodField()
    requested_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "project",
            "state",
            "trigger",
            "requested_by",
            "outcome",
            "cancel_requested",
            "progress",
            "metrics",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "model_version",
        ]

    def get_model_version(self, run: TrainingRun) -> str | None:
        version = getattr(run, "model_version", None)
        return version.name if version else None


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "run",
            "is_active",
            "metrics",
            "extractor_key",
            "sha256",
            "created_at",
            "promoted_at",
            "scored_at",
        ]


class RetrainAcceptedSerializer(serializers.Serializer):
    run = TrainingRunSerializer()


class ProjectRetrainApi(APIView):
    """Queue a retraining of the project's models (admins only); 409 while one runs."""

    @extend_schema(
        request=None,
        responses={
            202: RetrainAcceptedSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_admin(user=signed_in(request), project_id=project_id)
        run = training_run_start(
            project=project, trigger=RunTrigger.ADMIN, requested_by=signed_in(request)
        )
        return Response(
            RetrainAcceptedSerializer({"run": run}).data, status=status.HTTP_202_ACCEPTED
        )


class TrainingRunCancelApi(APIView):
    """Cancel a run (admins): a queued one at once, a running one at its next checkpoint."""

    @extend_schema(
        request=None,
        responses={
            200: TrainingRunSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    def post(self, request: Request, run_id: int) -> Response:
        user = signed_in(request)
        run = training_run_get_for_staff(user=user, run_id=run_id)
        project_get_for_admin(user=user, project_id=run.project_id)
        return Response(TrainingRunSerializer(training_run_cancel(run=run, actor=user)).data)


class TrainingRunDetailApi(APIView):
    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = training_run_get_for_staff(user=signed_in(request), run_id=run_id)
        return Response(TrainingRunSerializer(run).data)


class ProjectTrainingRunListApi(ListAPIView):
    serializer_class = TrainingRunSerializer

    def get_queryset(self):
        project = project_get_for_staff(
            user=signed_in(self.request), project_id=self.kwargs["project_id"]
        )
        return project_training_runs(project=project)


class ProjectModelListApi(ListAPIView):
    serializer_class = ModelVersionSerializer

    def get_queryset(self):
        project = project_get_for_staff(
            user=signed_in(self.request), project_id=self.kwargs["project_id"]
        )
        return project_model_versions(project=project)
