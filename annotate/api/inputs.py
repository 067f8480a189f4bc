"""Request bodies checked by a DRF serializer, refused in the API's error shape."""

from typing import Any

from rest_framework import serializers

from annotate.errors import ValidationError


def validated_input(
    serializer_class: type[serializers.Serializer], data: Any, *, code: str
) -> dict[str, Any]:
    """The serializer's validated data, or ValidationError naming the first bad field."""
    body = serializer_class(data=data)
    if not body.is_valid():
        field, problems = next(iter(body.errors.items()))
        raise ValidationError(f"{field}: {' '.join(map(str, problems))}", code=code)
    return dict(body.validated_data)
