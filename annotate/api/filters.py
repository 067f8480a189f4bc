"""Declared list filters (django-filter), validated before any query runs.

A list endpoint declares its filters as a FilterSet and reads them through
`filtered`: a value a filter does not accept (an unknown state, a clip id that is not a
whole number, ...) is a 400 `{"detail", "code": "bad_filter"}` naming the filter, never
an empty list. Parameters no filter declares (`page`, `page_size`) pass through.
"""

from typing import Any, TypeVar

import django_filters  # type: ignore[import-untyped]  # django-filter ships no stubs
from django import forms
from django.db.models import Model, QuerySet

from annotate.errors import ValidationError
from annotate.models import Rating

M = TypeVar("M", bound=Model)


class IdFilter(django_filters.NumberFilter):
    """An object id: a positive whole number ("1.5", "abc" and "-1" are refused)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        super().__init__(*args, **kwargs)


def filter_problems(filterset: django_filters.FilterSet) -> str:
    return "; ".join(
        f"{field}: {' '.join(map(str, errors))}" for field, errors in filterset.errors.items()
    )


def filtered(
    filterset_class: type[django_filters.FilterSet],
    params: object,
    queryset: QuerySet[M],
    **kwargs: Any,
) -> tuple[QuerySet[M], dict[str, Any]]:
    """The queryset through the filterset and the cleaned filter values, or
    ValidationError `bad_filter` naming every filter whose value is refused."""
    filterset = filterset_class(params, queryset=queryset, **kwargs)
    if not filterset.is_valid():
        raise ValidationError(f"bad filter: {filter_problems(filterset)}", code="bad_filter")
    return filterset.qs, dict(filterset.form.cleaned_data)


class RatingFilter(django_filters.FilterSet):
    """`clip` narrows to one clip's ratings; `project` is resolved by the view through
    annotate.access (a project the user is not a member of is a 404, not a filter)."""

    clip = IdFilter(field_name="clip_id")
    project = IdFilter(method="filter_noop")

    class Meta:
        model = Rating
        fields: list[str] = []

    def filter_noop(self, queryset: QuerySet[Rating], name: str, value: object) -> QuerySet[Rating]:
        return queryset
