"""A project's clips: listed and filtered for researchers and admins; uploads in
annotate.api.uploads.

Filters are declared (django-filter) and validated: an unknown state, target or ordering,
or a range bound that is not a number, is a 400 `{"detail", "code": "bad_filter"}`,
never an empty list. `state` takes the keys of the stats endpoint
(annotate.selectors.project_stats) and filters by the same definition
(annotate.selectors.clip_state_q: `leased` is a clip awaiting humans with a slot leased
out, `awaiting_humans` one without), so the counts agree; `leased=true|false` filters
on leased slots whatever the state. The validation is annotate.api.filters.filtered.
"""

import django_filters  # type: ignore[import-untyped]  # django-filter ships no stubs
from django.db.models import Exists, OuterRef, Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.generics import ListAPIView

from annotate.access import project_get_for_staff, signed_in
from annotate.api.filters import filtered
from annotate.api.serializers import ErrorSerializer, StaffClipSerializer
from annotate.api.uploads import ClipUploadApi
from annotate.models import QUEUE_ORDER, Clip, Label, LabelSource, Project
from annotate.selectors import STATE_KEYS, clip_state_q

ORDERINGS = {
    "id": ("id",),
    "-id": ("-id",),
    "queue": QUEUE_ORDER,
    "priority": ("priority", "id"),
    "-priority": ("-priority", "id"),
    "n_ratings": ("n_ratings", "id"),
    "-n_ratings": ("-n_ratings", "id"),
    "speaker": ("speaker", "id"),
    "-speaker": ("-speaker", "id"),
    "external_id": ("external_id", "id"),
    "-external_id": ("-external_id", "id"),
    "duration_s": ("duration_s", "id"),
    "-duration_s": ("-duration_s", "id"),
}


class ClipFilter(django_filters.FilterSet):
    """The clip list's filters; `target` narrows the confidence and agreement ranges to
    one of the project's targets (else any target's live label may match)."""

    state = django_filters.ChoiceFilter(
        choices=[(key, key) for key in STATE_KEYS], method="filter_state"
    )
    leased = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_leased"
    )
    speaker = django_filters.CharFilter(field_name="speaker")
    target = django_filters.ChoiceFilter(choices=[], method="filter_noop")
    confidence_min = django_filters.NumberFilter(method="filter_noop")
    confidence_max = django_filters.NumberFilter(method="filter_noop")
    agreement_min = django_filters.NumberFilter(method="filter_noop")
    agreement_max = django_filters.NumberFilter(method="filter_noop")
    search = django_filters.CharFilter(method="filter_search")
    ordering = django_filters.ChoiceFilter(
        choices=[(key, key) for key in ORDERINGS], method="filter_noop"
    )

    class Meta:
        model = Clip
        fields: list[str] = []

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = list(project.targets.values_list("name", flat=True))
        self.filters["target"].extra["choices"] = [(n, n) for n in names]

    def filter_noop(self, queryset: QuerySet[Clip], name: str, value: object) -> QuerySet[Clip]:
        # Applied together in filter_queryset: they depend on each other.
        return queryset

    def filter_state(self, queryset: QuerySet[Clip], name: str, value: str) -> QuerySet[Clip]:
        return queryset.filter(clip_state_q(value))

    def filter_leased(self, queryset: QuerySet[Clip], name: str, value: str) -> QuerySet[Clip]:
        if value == "true":
            return queryset.filter(active_leases__gt=0)
        return queryset.filter(active_leases=0)

    def filter_search(self, queryset: QuerySet[Clip], name: str, value: str) -> QuerySet[Clip]:
        return queryset.filter(
            Q(external_id__icontains=value)
            | Q(speaker__icontains=value)
            | Q(original_name__icontains=value)
        )

    def filter_queryset(self, queryset: QuerySet[Clip]) -> QuerySet[Clip]:
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        live = Label.objects.filter(clip=OuterRef("pk"), revoked_at__isnull=True)
        if data.get("target"):
            live = live.filter(target=data["target"])
        # A live label of the target (or of any target) whose value is in the range.
        ranges = (("confidence", LabelSource.MACHINE), ("agreement", LabelSource.HUMAN))
        for field, source in ranges:
            low, high = data.get(f"{field}_min"), data.get(f"{field}_max")
            if low is None and high is None:
                continue
            labels = live.filter(source=source, **{f"{field}__isnull": False})
            if low is not None:
                labels = labels.filter(**{f"{field}__gte": low})
            if high is not None:
                labels = labels.filter(**{f"{field}__lte": high})
            queryset = queryset.filter(Exists(labels))
        return queryset.order_by(*ORDERINGS[data.get("ordering") or "id"])


def clips_filtered(*, project: Project, params: object) -> QuerySet[Clip]:
    """The project's clips through ClipFilter, or ValidationError naming the bad filter."""
    queryset = Clip.objects.filter(project=project).prefetch_related("labels", "reference_labels")
    clips, _ = filtered(ClipFilter, params, queryset, project=project)
    return clips


# As the filters take a number (django-filter's NumberFilter: a decimal within +-1e50).
NUMBER = {"type": "number", "minimum": -1e50, "maximum": 1e50}


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("state", str, required=False, enum=list(STATE_KEYS)),
            OpenApiParameter("leased", str, required=False, enum=["true", "false"]),
            OpenApiParameter("speaker", str, required=False),
            OpenApiParameter("target", str, required=False, description="A target of the project."),
            OpenApiParameter(
                "confidence_min",
                NUMBER,
                required=False,
                description="Machine labels' expected error.",
            ),
            OpenApiParameter("confidence_max", NUMBER, required=False),
            OpenApiParameter(
                "agreement_min", NUMBER, required=False, description="Human labels' agreement."
            ),
            OpenApiParameter("agreement_max", NUMBER, required=False),
            OpenApiParameter(
                "search", str, required=False, description="In corpus id, speaker, file name."
            ),
            OpenApiParameter("ordering", str, required=False, enum=list(ORDERINGS)),
        ],
        responses={
            200: StaffClipSerializer(many=True),
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
)
class ClipCollectionApi(ClipUploadApi, ListAPIView):
    serializer_class = StaffClipSerializer

    def get_queryset(self):
        project = project_get_for_staff(
            user=signed_in(self.request), project_id=self.kwargs["project_id"]
        )
        return clips_filtered(project=project, params=self.request.query_params)
