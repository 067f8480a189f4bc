"""Priors: researchers and admins list them; admins name one for a project."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.access import project_get_for_admin, require_staff, signed_in
from annotate.models import Prior
from annotate.services.priors import prior_get, project_prior_set


class PriorSerializer(serializers.ModelSerializer):
    ref = serializers.CharField(source="label", read_only=True, help_text="name@version")

    class Meta:
        model = Prior
        fields = [
            "id",
            "name",
            "version",
            "ref",
            "targets",
            "extractor_key",
            "feature_normalisation",
            "sources",
            "n_clips",
            "metrics",
            "created_at",
        ]


class PriorListApi(APIView):
    """Every stored prior, newest version of each name first (researchers and admins)."""

    @extend_schema(responses=PriorSerializer(many=True))
    def get(self, request: Request) -> Response:
        require_staff(signed_in(request))
        return Response(PriorSerializer(Prior.objects.all(), many=True).data)


class ProjectPriorInput(serializers.Serializer):
    prior = serializers.CharField(
        allow_null=True, help_text='"name" (newest version) or "name@version"; null: none'
    )


class ProjectPriorApi(APIView):
    """Name the prior a project starts from (admins). 400 `prior_incompatible` names
    every mismatch (targets, scales, extractor, normalisation); 404 an unknown prior."""

    @extend_schema(request=ProjectPriorInput, responses=PriorSerializer)
    def put(self, request: Request, project_id: int) -> Response:
        project = project_get_for_admin(user=signed_in(request), project_id=project_id)
        body = ProjectPriorInput(data=request.data)
        body.is_valid(raise_exception=True)
        label = body.validated_data["prior"]
        prior = prior_get(label) if label else None
        project_prior_set(project=project, prior=prior)
        return Response(PriorSerializer(prior).data if prior is not None else None)
