"""A project's clips: listed for researchers and admins; uploads in annotate.api.uploads."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView

from annotate.access import project_get_for_staff, signed_in
from annotate.api.serializers import StaffClipSerializer
from annotate.api.uploads import ClipUploadApi
from annotate.selectors import clips_for_staff


@extend_schema(
    parameters=[
        OpenApiParameter("state", str, required=False),
        OpenApiParameter("ordering", str, required=False, enum=["id", "queue"]),
    ]
)
class ClipCollectionApi(ClipUploadApi, ListAPIView):
    serializer_class = StaffClipSerializer

    def get_queryset(self):
        project = project_get_for_staff(
            user=signed_in(self.request), project_id=self.kwargs["project_id"]
        )
        params = self.request.query_params
        return clips_for_staff(
            project=project, state=params.get("state"), ordering=params.get("ordering")
        )
