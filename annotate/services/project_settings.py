"""Admins tune a running project: its thresholds, budgets and rater counts, and pause it.

Every change is written in one transaction with the project row locked, and recorded in
the audit log with the changed fields only, before and after
(annotate.services.audit). The rules a setting must meet are in SETTINGS below; a
request that breaks any of them changes nothing and names every field it refuses.

Settings take effect where they are read: thresholds and error bars at the next
retraining, `machine_label_revoke_tolerance` at the next scoring, rater counts and
`agreement_target` when a clip is next settled, `lease_seconds` on the next lease,
`retrain_after_labels` on the next rating.
"""

import math
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from annotate.errors import Conflict, ValidationError
from annotate.models import Project
from annotate.services.audit import audit_record, fields_of


@dataclass(frozen=True)
class Setting:
    """What values a project setting takes: a kind and an inclusive range."""

    kind: type  # bool, int or float
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is refused

    def problem(self, value: Any) -> str | None:
        """Why `value` is refused, or None."""
        if self.kind is bool:
            return None if isinstance(value, bool) else "must be true or false"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if self.kind is int and not (isinstance(value, int) or float(value).is_integer()):
            return "must be a whole number"
        if not math.isfinite(value):
            return "must be a finite number"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"must be {'above' if self.low_open else 'at least'} {self.low:g}"
        if self.high is not None and value > self.high:
            return f"must be at most {self.high:g}"
        return None

    def coerce(self, value: Any) -> bool | int | float:
        """A valid value as the field stores it (3.0 for a whole number becomes 3)."""
        if self.kind is bool:
            return bool(value)
        return int(value) if self.kind is int else float(value)


# Errors are in label units (the targets' scales), so their bound is the widest scale.
SETTINGS: dict[str, Setting] = {
    "self_label_max_error": Setting(float, 0.0, None, low_open=True),
    "machine_label_target_error": Setting(float, 0.0, None, low_open=True),
    "machine_labels_as_good_as_humans": Setting(bool),
    "machine_label_revoke_tolerance": Setting(float, 0.0, None, low_open=True),
    "min_raters": Setting(int, 1, 100),
    "max_raters": Setting(int, 1, 100),
    "agreement_target": Setting(float, 0.0, 1.0),
    "rater_panel": Setting(int, 1, 100),
    "human_budget_per_round": Setting(int, 1, 1_000_000),
    "retrain_after_labels": Setting(int, 0, 1_000_000),
    "lease_seconds": Setting(int, 30, 7 * 24 * 3600),
}
ERROR_SETTINGS = ("self_label_max_error", "machine_label_target_error")
ELSEWHERE = {"paused": "use the pause and resume actions", "prior": "use PUT .../prior/"}


class SettingsInvalid(ValidationError):
    """A settings change refused; `fields` names each refused field with its reason."""

    def __init__(self, fields: dict[str, str]) -> None:
        message = "; ".join(f"{name}: {reason}" for name, reason in fields.items())
        super().__init__(message, code="bad_settings")
        self.fields = fields


def project_settings(project: Project) -> dict[str, Any]:
    """The project's editable settings and whether it is paused."""
    return {**fields_of(project, list(SETTINGS)), "paused": project.paused}


def _widest_scale(project: Project) -> float | None:
    widths = [t.scale_max - t.scale_min for t in project.targets.all()]
    return max(widths) if widths else None


def settings_problems(project: Project, changes: dict[str, Any]) -> dict[str, str]:
    """Every refused field of `changes` to `project`, with its reason (empty: all fine)."""
    problems: dict[str, str] = {}
    for name, value in changes.items():
        if name in ELSEWHERE:
            problems[name] = f"not a setting here: {ELSEWHERE[name]}"
        elif name not in SETTINGS:
            problems[name] = "unknown setting; settable: " + ", ".join(SETTINGS)
        elif reason := SETTINGS[name].problem(value):
            problems[name] = reason
    if problems:
        return problems
    merged = {**fields_of(project, list(SETTINGS)), **changes}
    if merged["max_raters"] < merged["min_raters"]:
        name = "max_raters" if "max_raters" in changes else "min_raters"
        problems[name] = (
            f"min_raters ({merged['min_raters']}) must not exceed "
            f"max_raters ({merged['max_raters']})"
        )
    widest = _widest_scale(project)
    for name in ERROR_SETTINGS:
        if name in changes and widest is not None and changes[name] > widest:
            problems[name] = f"must be at most {widest:g}, the widest target scale"
    return problems


def project_settings_update(
    *, project: Project, changes: dict[str, Any], actor: User | None
) -> Project:
    """Apply `changes` (setting name -> value) to `project` in one transaction and record
    one audit entry `project.update` with the changed fields before and after. Refuses
    the whole change with SettingsInvalid when any field is unknown or out of range, or
    when min_raters would exceed max_raters. Values equal to the current ones change
    nothing and are not logged."""
    if not isinstance(changes, dict) or not changes:
        raise ValidationError(
            "send an object with at least one setting: " + ", ".join(SETTINGS),
            code="no_settings",
        )
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        problems = settings_problems(locked, changes)
        if problems:
            raise SettingsInvalid(problems)
        typed = {name: SETTINGS[name].coerce(value) for name, value in changes.items()}
        before = fields_of(locked, list(typed))
        changed = [name for name, value in typed.items() if before[name] != value]
        if changed:
            for name in changed:
                setattr(locked, name, typed[name])
            locked.save(update_fields=changed)
            audit_record(
                actor=actor,
                project=locked,
                action="project.update",
                target=locked,
                before={name: before[name] for name in changed},
                after=fields_of(locked, changed),
            )
    return locked


def project_changes_record(
    *,
    project: Project,
    before: dict[str, Any],
    fields: list[str],
    actor: User | None,
    action: str = "project.update",
) -> None:
    """Audit-log a change made elsewhere (the Django admin): `before` holds the named
    fields as they were, the project holds them as saved."""
    after = fields_of(project, fields)
    if {k: v for k, v in before.items() if k in fields} != after:
        audit_record(
            actor=actor,
            project=project,
            action=action,
            target=project,
            before=before,
            after=after,
        )


def _pause_set(*, project: Project, paused: bool, actor: User | None) -> Project:
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        if locked.paused != paused:
            locked.paused = paused
            locked.save(update_fields=["paused"])
            audit_record(
                actor=actor,
                project=locked,
                action="project.pause" if paused else "project.resume",
                target=locked,
                before={"paused": not paused},
                after={"paused": paused},
            )
    return locked


def project_pause(*, project: Project, actor: User | None) -> Project:
    """Pause the project: raters get no new clips (409 project_paused) and ratings do not
    start retrainings; leases already given may still be rated, and an admin may still
    retrain. Pausing a paused project changes nothing and logs nothing."""
    return _pause_set(project=project, paused=True, actor=actor)


def project_resume(*, project: Project, actor: User | None) -> Project:
    """Resume a paused project; resuming a running one changes nothing."""
    return _pause_set(project=project, paused=False, actor=actor)


def project_require_running(project: Project) -> None:
    """Conflict `project_paused` while the project is paused: no clips are handed out."""
    if project.paused:
        raise Conflict(
            "This project is paused by its admins: there are no clips to rate for now. "
            "Please come back later.",
            code="project_paused",
        )
