"""Request bodies checked by a DRF serializer, refused in the API's error shape."""

from typing import Any

from rest_framework import serializers

from annotate.errors import ValidationError
from annotate.services.ratings import MAX_CLIENT_TOKEN, MAX_TIME_SPENT_MS, MIN_CLIENT_TOKEN


def validated_input(
    serializer_class: type[serializers.Serializer], data: Any, *, code: str
) -> dict[str, Any]:
    """The serializer's validated data, or ValidationError naming the first bad field."""
    body = serializer_class(data=data)
    if not body.is_valid():
        field, problems = next(iter(body.errors.items()))
        raise ValidationError(f"{field}: {' '.join(map(str, problems))}", code=code)
    return dict(body.validated_data)


class ClientTokenField(serializers.CharField):
    """A string of 8 to 64 characters and nothing else (DRF's CharField would take the
    number 12345678 as "12345678")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or not MIN_CLIENT_TOKEN <= len(data) <= MAX_CLIENT_TOKEN:
            raise serializers.ValidationError(
                f"must be a string of {MIN_CLIENT_TOKEN} to {MAX_CLIENT_TOKEN} characters",
                code="bad_token",
            )
        return data


class TimeSpentField(serializers.IntegerField):
    """Milliseconds as a JSON integer from 0 to 2**31 - 1 (the database column's range)."""

    def to_internal_value(self, data: Any) -> int:
        wrong_type = isinstance(data, bool) or not isinstance(data, int)
        if wrong_type or not 0 <= data <= MAX_TIME_SPENT_MS:
            raise serializers.ValidationError(
                f"must be an integer from 0 to {MAX_TIME_SPENT_MS}", code="bad_time_spent"
            )
        return data


class RatingInput(serializers.Serializer):
    """The body of POST /api/v1/assignments/{id}/rating/ (the values themselves are
    checked against the project's targets by annotate.services.ratings)."""

    values = serializers.JSONField(help_text="{target: number} on each target's scale")
    client_token = ClientTokenField(
        min_length=MIN_CLIENT_TOKEN,
        max_length=MAX_CLIENT_TOKEN,
        help_text="8 to 64 characters, chosen by the client once per rating; a replay "
        "returns the same rating.",
    )
    time_spent_ms = TimeSpentField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_TIME_SPENT_MS,
        help_text="Integer milliseconds, 0 to 2**31 - 1.",
    )

    class Meta:
        ref_name = "RatingInput"
