"""A project's raters for researchers and admins; blocking and unblocking for admins."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_admin, project_get_for_staff, signed_in
from annotate.api.inputs import validated_input
from annotate.api.serializers import ErrorSerializer
from annotate.models import RaterBlock
from annotate.selectors import project_raters
from annotate.services.blocks import rater_block, rater_of_project, rater_unblock

REFUSALS = {403: ErrorSerializer, 404: ErrorSerializer}


class CrowdAgreementOutput(serializers.Serializer):
    mae = serializers.FloatField(
        allow_null=True,
        help_text="Mean absolute difference from the other raters' mean on the same clips.",
    )
    correlation = serializers.FloatField(
        allow_null=True, help_text="Pearson correlation with that mean; null under 3 clips."
    )
    clips = serializers.IntegerField(help_text="Shared clips it rests on.")

    class Meta:
        ref_name = "CrowdAgreement"


class GoldAgreementOutput(serializers.Serializer):
    mae = serializers.FloatField(help_text="Mean absolute error against reference labels.")
    clips = serializers.IntegerField()

    class Meta:
        ref_name = "GoldAgreement"


class RaterBlockOutput(serializers.Serializer):
    reason = serializers.CharField()
    exclude_ratings = serializers.BooleanField()
    blocked_by = serializers.CharField(allow_null=True)
    blocked_at = serializers.DateTimeField()

    class Meta:
        ref_name = "RaterBlockState"


class RaterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    ratings = serializers.IntegerField()
    median_seconds = serializers.FloatField(
        allow_null=True, help_text="Median time spent per clip (null: never timed)."
    )
    median_clip_seconds = serializers.FloatField(
        allow_null=True, help_text="Median duration of the clips they rated."
    )
    reliability = serializers.FloatField(allow_null=True)
    reliability_clips = serializers.IntegerField()
    noise = serializers.DictField(child=serializers.FloatField(allow_null=True))
    worst_noise = serializers.FloatField(allow_null=True)
    spread = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="SD of their own values."
    )
    crowd_agreement = serializers.DictField(child=CrowdAgreementOutput())
    gold = serializers.DictField(
        child=GoldAgreementOutput(allow_null=True),
        allow_null=True,
        help_text="Per target, against reference labels; null when they rated no gold clip.",
    )
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=["too_fast", "constant", "high_noise"]),
        help_text="Rules in annotate.selectors_raters.",
    )
    blocked = RaterBlockOutput(allow_null=True)

    class Meta:
        ref_name = "ProjectRater"


class ProjectRatersApi(APIView):
    """Staff: the project's raters, the noisiest first, with their flags."""

    @extend_schema(responses={200: RaterOutput(many=True), **REFUSALS})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        return Response(RaterOutput(project_raters(project=project), many=True).data)


class RaterBlockInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, allow_blank=True, default="")
    exclude_ratings = serializers.BooleanField(default=False)


class RaterBlockStateOutput(serializers.Serializer):
    rater = serializers.IntegerField()
    blocked = RaterBlockOutput(allow_null=True)

    class Meta:
        ref_name = "RaterBlockChange"


def _block_state(rater_id: int, block: RaterBlock | None) -> Response:
    blocked = None
    if block is not None:
        blocked = {
            "reason": block.reason,
            "exclude_ratings": block.exclude_ratings,
            "blocked_by": block.blocked_by.get_username() if block.blocked_by else None,
            "blocked_at": block.created_at,
        }
    return Response(RaterBlockStateOutput({"rater": rater_id, "blocked": blocked}).data)


class RaterBlockApi(APIView):
    """Admins: block a rater in the project (or change the block); with
    `exclude_ratings`, their ratings leave the project's labels."""

    @extend_schema(
        request=RaterBlockInput,
        responses={200: RaterBlockStateOutput, 400: ErrorSerializer, **REFUSALS},
    )
    def post(self, request: Request, project_id: int, user_id: int) -> Response:
        user = signed_in(request)
        project = project_get_for_admin(user=user, project_id=project_id)
        rater = rater_of_project(project=project, user_id=user_id)
        body = validated_input(RaterBlockInput, request.data, code="bad_block")
        block = rater_block(
            project=project,
            rater=rater,
            by=user,
            reason=body["reason"],
            exclude_ratings=body["exclude_ratings"],
        )
        return _block_state(rater.pk, block)


class RaterUnblockApi(APIView):
    """Admins: lift a rater's block; excluded ratings count again."""

    @extend_schema(
        request=None,
        responses={200: RaterBlockStateOutput, **REFUSALS},
    )
    def post(self, request: Request, project_id: int, user_id: int) -> Response:
        user = signed_in(request)
        project = project_get_for_admin(user=user, project_id=project_id)
        rater = rater_of_project(project=project, user_id=user_id)
        rater_unblock(project=project, rater=rater, by=user)
        return _block_state(rater.pk, None)
