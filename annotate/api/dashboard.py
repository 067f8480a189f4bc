"""The researcher and admin dashboard's data in one read (annotate.selectors_dashboard)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_staff, signed_in
from annotate.api.serializers import ErrorSerializer
from annotate.api.stopping import LearningCurvePointOutput, StopSignalOutput
from annotate.selectors_dashboard import project_dashboard
from annotate.services.snapshots import project_snapshot_if_stale


class DashboardProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    paused = serializers.BooleanField()
    prior = serializers.CharField(
        allow_null=True, help_text="The prior the project starts from (name@version)."
    )

    class Meta:
        ref_name = "DashboardProject"


class SnapshotOutput(serializers.Serializer):
    taken_at = serializers.DateTimeField()
    states = serializers.DictField(child=serializers.IntegerField(), help_text="Clips per state.")
    labels = serializers.DictField(
        child=serializers.IntegerField(), help_text="Live labels per source."
    )
    ratings = serializers.IntegerField()

    class Meta:
        ref_name = "DashboardSnapshot"


class RatingTotalsOutput(serializers.Serializer):
    total = serializers.IntegerField(help_text="Human ratings spent so far.")
    in_concord = serializers.IntegerField()
    imported = serializers.IntegerField(help_text="Ratings imported with a corpus.")
    raters = serializers.IntegerField(help_text="People who gave at least one rating.")
    hours_spent = serializers.FloatField(help_text="Rating time measured by the rating page.")
    first_at = serializers.DateTimeField(allow_null=True)
    last_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "DashboardRatingTotals"


class RatingsHourOutput(serializers.Serializer):
    hour = serializers.DateTimeField(help_text="Start of the UTC hour.")
    ratings = serializers.IntegerField()

    class Meta:
        ref_name = "DashboardRatingsHour"


class LabelSourcesOutput(serializers.Serializer):
    human = serializers.IntegerField()
    machine = serializers.IntegerField()

    class Meta:
        ref_name = "DashboardLabelSources"


class LabelShareOutput(LabelSourcesOutput):
    by_target = serializers.DictField(child=LabelSourcesOutput())

    class Meta:
        ref_name = "DashboardLabelShare"


class AgreementTargetOutput(serializers.Serializer):
    counts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Human labels per agreement bin."
    )
    labels = serializers.IntegerField(help_text="Human labels with two ratings or more.")
    single_rating = serializers.IntegerField(
        help_text="Human labels from one rating: no agreement, not in the histogram."
    )
    mean = serializers.FloatField(allow_null=True)

    class Meta:
        ref_name = "DashboardAgreementTarget"


class AgreementOutput(serializers.Serializer):
    bins = serializers.ListField(child=serializers.FloatField(), help_text="Bin edges, 0..1.")
    targets = serializers.DictField(child=AgreementTargetOutput())

    class Meta:
        ref_name = "DashboardAgreement"


class LearningCurveOutput(serializers.Serializer):
    targets = serializers.ListField(child=serializers.CharField())
    points = LearningCurvePointOutput(many=True)
    signal = StopSignalOutput()
    sentence = serializers.CharField(help_text="Whether the stop signal fired, and why.")

    class Meta:
        ref_name = "DashboardLearningCurve"


class ModelRowOutput(serializers.Serializer):
    name = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    dev_ccc = serializers.DictField(child=serializers.FloatField(allow_null=True))
    confidence_rank = serializers.DictField(child=serializers.FloatField(allow_null=True))
    queue_order = serializers.ChoiceField(
        choices=["uncertainty", "random"],
        allow_null=True,
        help_text="How it orders the clips it leaves to raters: least confident first, or a "
        "random draw while its confidence ranks development errors no better than chance.",
    )
    self_label_threshold = serializers.FloatField(allow_null=True)
    self_label_bar = serializers.FloatField(
        allow_null=True,
        help_text="The bar scoring applies: the threshold capped by the project's maximum.",
    )
    dev_self_label_share = serializers.FloatField(allow_null=True)
    dev_machine_label_mae = serializers.FloatField(allow_null=True)
    machine_labelled_clips = serializers.IntegerField(help_text="Clips with a live label of it.")
    why = serializers.CharField(help_text="Why it labels what it labels.")
    prior_why = serializers.CharField(
        allow_null=True, help_text="What this version made of the project's prior."
    )

    class Meta:
        ref_name = "DashboardModel"


class QueueRowOutput(serializers.Serializer):
    rank = serializers.IntegerField(help_text="Place in the order raters are served.")
    clip = serializers.IntegerField()
    external_id = serializers.CharField()
    speaker = serializers.CharField()
    n_ratings = serializers.IntegerField()
    ratings_wanted = serializers.IntegerField()
    active_leases = serializers.IntegerField()
    started = serializers.BooleanField(
        help_text="Others have rated it: served before every clip not started."
    )
    priority = serializers.FloatField(help_text="Orders clips with as many ratings.")

    class Meta:
        ref_name = "DashboardQueueRow"


class QueueOutput(serializers.Serializer):
    open = serializers.IntegerField(help_text="Clips awaiting humans with a slot open.")
    fully_leased = serializers.IntegerField(help_text="Awaiting clips whose slots are all leased.")
    rows = QueueRowOutput(many=True)

    class Meta:
        ref_name = "DashboardQueue"


class DashboardOutput(serializers.Serializer):
    project = DashboardProjectOutput()
    generated_at = serializers.DateTimeField()
    targets = serializers.ListField(child=serializers.CharField())
    clips = serializers.IntegerField()
    states = serializers.DictField(child=serializers.IntegerField())
    snapshots = SnapshotOutput(many=True)
    ratings = RatingTotalsOutput()
    ratings_per_hour = RatingsHourOutput(many=True)
    labels = LabelShareOutput()
    agreement = AgreementOutput()
    learning_curve = LearningCurveOutput()
    models = ModelRowOutput(many=True)
    queue = QueueOutput()

    class Meta:
        ref_name = "Dashboard"


class ProjectDashboardApi(APIView):
    """Staff: the dashboard's data. A read that takes a snapshot of the project's counts
    when the newest is over a minute old, so a fresh project has points over time."""

    @extend_schema(responses={200: DashboardOutput, 403: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_staff(user=signed_in(request), project_id=project_id)
        project_snapshot_if_stale(project=project)
        return Response(DashboardOutput(project_dashboard(project=project)).data)
