"""The stop signal: whether more human ratings add little, for researchers and admins."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_staff, signed_in
from annotate.learning.stopping import project_stop_signal


class LearningCurvePointOutput(serializers.Serializer):
    run = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ratings = serializers.IntegerField()
    dev_ccc = serializers.DictField(child=serializers.FloatField(allow_null=True))
    vs_active = serializers.DictField(child=serializers.FloatField(), allow_null=True)

    class Meta:
        ref_name = "LearningCurvePoint"


class StopSignalOutput(serializers.Serializer):
    fired = serializers.BooleanField()
    at_cost = serializers.IntegerField(allow_null=True)
    round_index = serializers.IntegerField(allow_null=True)
    plateau = serializers.DictField(child=serializers.FloatField(allow_null=True))
    gain = serializers.DictField(child=serializers.FloatField(allow_null=True))
    flat = serializers.ListField(child=serializers.BooleanField())
    reason = serializers.CharField()

    class Meta:
        ref_name = "StopSignal"


class ProjectStopSignalOutput(serializers.Serializer):
    targets = serializers.ListField(child=serializers.CharField())
    points = LearningCurvePointOutput(many=True)
    signal = StopSignalOutput()

    class Meta:
        ref_name = "ProjectStopSignal"


class ProjectStopSignalApi(APIView):
    """The project's learning curve (development CCC against human ratings, one point per
    succeeded training run) and whether more ratings add little (learner.stopping)."""

    @extend_schema(responses=ProjectStopSignalOutput)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        return Response(ProjectStopSignalOutput(project_stop_signal(project=project)).data)
