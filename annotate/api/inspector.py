"""The clip inspector: one clip with everything researchers and admins may know of it."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import clip_get_for_staff, signed_in
from annotate.api.serializers import ErrorSerializer
from annotate.selectors_clips import clip_inspect


class InspectedRatingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    rater = serializers.IntegerField()
    rater_name = serializers.CharField()
    values = serializers.DictField(child=serializers.FloatField())
    time_spent_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    # DRF's metaclass moves declared fields off the class; mypy only sees the attribute.
    source = serializers.CharField()  # type: ignore[assignment]
    excluded = serializers.BooleanField(help_text="The rater is blocked with ratings excluded.")

    class Meta:
        ref_name = "InspectedRating"


class InspectedLabelOutput(serializers.Serializer):
    value = serializers.FloatField()
    standard_error = serializers.FloatField(allow_null=True)
    n_ratings = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True)

    class Meta:
        ref_name = "InspectedLabel"


class InspectedMachineLabelOutput(serializers.Serializer):
    value = serializers.FloatField()
    expected_error = serializers.FloatField(
        allow_null=True, help_text="Calibrated expected absolute error (label units)."
    )
    model_version = serializers.CharField()
    live = serializers.BooleanField()
    revoked_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "InspectedMachineLabel"


class InspectedAuditOutput(serializers.Serializer):
    id = serializers.IntegerField()
    model_version = serializers.CharField()

    class Meta:
        ref_name = "InspectedAudit"


class ClipInspectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    original_name = serializers.CharField()
    audio_url = serializers.CharField()
    duration_s = serializers.FloatField()
    peaks = serializers.ListField(child=serializers.FloatField())
    speaker = serializers.CharField()
    state = serializers.CharField()
    priority = serializers.FloatField()
    ratings_wanted = serializers.IntegerField()
    n_ratings = serializers.IntegerField()
    active_leases = serializers.IntegerField()
    targets = serializers.ListField(child=serializers.CharField())
    ratings = InspectedRatingOutput(many=True)
    label = serializers.DictField(  # type: ignore[assignment]  # a field, as `source` above
        child=InspectedLabelOutput(), help_text="Live human labels."
    )
    machine = serializers.DictField(
        child=InspectedMachineLabelOutput(), help_text="Newest machine label per target."
    )
    self_label_bar = serializers.FloatField(allow_null=True)
    reference = serializers.DictField(
        child=serializers.FloatField(), help_text="The corpus's gold; staff only."
    )
    audit = InspectedAuditOutput(allow_null=True, help_text="An open machine-label audit.")
    why = serializers.CharField(help_text="Why the clip is queued, self-labelled or deferred.")

    class Meta:
        ref_name = "ClipInspect"


class ClipDetailApi(APIView):
    """Staff: one clip, its ratings by rater, labels with standard errors, machine label
    and confidence, reference label, and why it is where it is."""

    @extend_schema(responses={200: ClipInspectOutput, 403: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, clip_id: int) -> Response:
        clip = clip_get_for_staff(user=signed_in(request), clip_id=clip_id)
        return Response(ClipInspectOutput(clip_inspect(clip=clip)).data)
