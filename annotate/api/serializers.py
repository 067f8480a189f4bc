"""Output shapes shared by several endpoints."""

from rest_framework import serializers

from annotate.models import Clip, Project, Rating, Target


class ErrorSerializer(serializers.Serializer):
    """The body of every refusal: a message naming the problem and a stable code."""

    detail = serializers.CharField()
    code = serializers.CharField()

    class Meta:
        ref_name = "Error"


class TargetSerializer(serializers.ModelSerializer):
    min = serializers.FloatField(source="scale_min")
    max = serializers.FloatField(source="scale_max")

    class Meta:
        model = Target
        fields = [
            "name",
            "min",
            "max",
            "anchor_low",
            "anchor_high",
            "rater_noise",
            "rater_noise_clips",
        ]
        read_only_fields = ["rater_noise", "rater_noise_clips"]


class ProjectSerializer(serializers.ModelSerializer):
    targets = TargetSerializer(many=True, read_only=True)
    role = serializers.SerializerMethodField()
    prior = serializers.SerializerMethodField(
        help_text="The prior the project starts from (name@version), for researchers and "
        "admins; null without one."
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "targets",
            "min_raters",
            "max_raters",
            "rater_panel",
            "agreement_target",
            "self_label_max_error",
            "machine_label_target_error",
            "machine_labels_as_good_as_humans",
            "human_budget_per_round",
            "retrain_after_labels",
            "lease_seconds",
            "role",
            "prior",
        ]

    def get_role(self, project: Project) -> str:
        from annotate.access import user_role

        return user_role(self.context["request"].user)

    def get_prior(self, project: Project) -> str | None:
        if project.prior is None or self.get_role(project) == "rater":
            return None
        return project.prior.label


class RatingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rating
        fields = [
            "id",
            "assignment",
            "clip",
            "values",
            "time_spent_ms",
            "client_token",
            "created_at",
        ]


class StaffRatingSerializer(RatingSerializer):
    class Meta(RatingSerializer.Meta):
        fields = [*RatingSerializer.Meta.fields, "rater", "source"]


class StaffClipSerializer(serializers.ModelSerializer):
    """Everything about a clip, for researchers and admins only."""

    labels = serializers.SerializerMethodField()
    reference = serializers.SerializerMethodField()

    class Meta:
        model = Clip
        fields = [
            "id",
            "external_id",
            "original_name",
            "duration_s",
            "original_sample_rate",
            "original_channels",
            "sha256",
            "speaker",
            "gender",
            "language",
            "split",
            "metadata",
            "state",
            "priority",
            "ratings_wanted",
            "n_ratings",
            "active_leases",
            "labels",
            "reference",
            "created_at",
        ]

    def get_labels(self, clip: Clip) -> dict:
        return {
            label.target: {
                "value": label.value,
                "source": label.source,
                "confidence": label.confidence,
                "model_version": label.model_version,
                "n_ratings": label.n_ratings,
                "agreement": label.agreement,
            }
            for label in clip.labels.all()
            if label.revoked_at is None
        }

    def get_reference(self, clip: Clip) -> dict:
        return {ref.target: ref.value for ref in clip.reference_labels.all()}
