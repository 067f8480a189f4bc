"""The audit log: every change a researcher or admin makes to a campaign, with the values
before and after. Services call `audit_record` in the transaction that makes the change."""

from typing import Any

from django.contrib.auth.models import User
from django.db import models

from annotate.models import AuditEntry, Project


def fields_of(instance: models.Model, fields: list[str]) -> dict[str, Any]:
    """The named fields of a model instance, as JSON-ready values."""
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(instance, name)
        values[name] = value.pk if isinstance(value, models.Model) else value
    return values


def audit_record(
    *,
    actor: User | None,
    project: Project | None,
    action: str,
    target: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record that `actor` did `action` to `target`; only the fields that changed are kept
    when both sides are given."""
    before, after = dict(before or {}), dict(after or {})
    if before and after:
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        before = {k: v for k, v in before.items() if k in changed}
        after = {k: v for k, v in after.items() if k in changed}
    return AuditEntry.objects.create(
        project=project,
        actor=actor,
        action=action,
        object_type=target._meta.model_name or type(target).__name__.lower(),
        object_id=str(target.pk),
        before=before,
        after=after,
    )
