"""How wrong machine labels are, measured by the audits that sent them back to humans.

An audit is complete once its clip has been rated again (state `rated`) and has live
human labels made after the audit was requested: the clip's newest human label is the
truth the machine values are held against. A stored `completed_at` /
`human_values` (annotate.services.audits.machine_audits_close) counts the same.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from annotate.models import ClipState, Label, LabelSource, MachineLabelAudit, Project

BOOTSTRAP_DRAWS = 2000


@dataclass(frozen=True)
class AuditResult:
    audit: MachineLabelAudit
    human_values: dict[str, float] | None
    completed_at: datetime | None


def mean_error_interval(
    errors: ArrayLike, *, draws: int = BOOTSTRAP_DRAWS, random_state: int = 0
) -> tuple[float, float | None, float | None]:
    """The mean of absolute errors and its 95 % percentile-bootstrap interval (None under
    two errors: one clip gives no spread to resample)."""
    values = np.asarray(errors, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, None, None
    rng = np.random.default_rng(random_state)
    means = values[rng.integers(0, values.size, size=(draws, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return mean, float(low), float(high)


def audit_results(*, project: Project) -> list[AuditResult]:
    """Every audit of the project with its human values once complete."""
    audits = list(
        MachineLabelAudit.objects.filter(clip__project=project).select_related(
            "clip", "model_version"
        )
    )
    human: dict[int, list[Label]] = {}
    for label in Label.objects.filter(
        clip_id__in=[a.clip_id for a in audits], source=LabelSource.HUMAN, revoked_at__isnull=True
    ):
        human.setdefault(label.clip_id, []).append(label)
    results = []
    for audit in audits:
        if audit.completed_at is not None and audit.human_values is not None:
            results.append(AuditResult(audit, audit.human_values, audit.completed_at))
            continue
        fresh = [lb for lb in human.get(audit.clip_id, []) if lb.created_at >= audit.created_at]
        if audit.clip.state != ClipState.RATED or not fresh:
            results.append(AuditResult(audit, None, None))
            continue
        results.append(
            AuditResult(
                audit,
                {lb.target: lb.value for lb in fresh},
                max(lb.created_at for lb in fresh),
            )
        )
    return results


def project_audits(*, project: Project) -> list[dict[str, Any]]:
    """Per model version with audits, the newest first: clips audited and completed, and
    per target the measured mean absolute machine-label error with its 95 % bootstrap
    interval, next to the mean error the model claimed on the same clips (and on all its
    audited clips)."""
    targets = list(project.targets.values_list("name", flat=True))
    by_version: dict[int, list[AuditResult]] = {}
    for result in audit_results(project=project):
        by_version.setdefault(result.audit.model_version_id, []).append(result)
    rows = []
    for results in by_version.values():
        version = results[0].audit.model_version
        done = [r for r in results if r.human_values is not None]
        per_target = {}
        for target in targets:
            errors, claimed = [], []
            for r in done:
                machine = r.audit.machine_values.get(target)
                truth = (r.human_values or {}).get(target)
                if machine is None or truth is None:
                    continue
                errors.append(abs(machine - truth))
                if r.audit.claimed_error.get(target) is not None:
                    claimed.append(r.audit.claimed_error[target])
            claimed_all = [
                r.audit.claimed_error[target]
                for r in results
                if r.audit.claimed_error.get(target) is not None
            ]
            mean, low, high = mean_error_interval(errors) if errors else (None, None, None)
            per_target[target] = {
                "clips": len(errors),
                "measured_error": mean,
                "interval_low": low,
                "interval_high": high,
                "claimed_error": float(np.mean(claimed)) if claimed else None,
                "claimed_error_all": float(np.mean(claimed_all)) if claimed_all else None,
            }
        rows.append(
            {
                "model_version": version.name,
                "is_active": version.is_active,
                "audited": len(results),
                "completed": len(done),
                "targets": per_target,
                "requested_at": max(r.audit.created_at for r in results),
            }
        )
    rows.sort(key=_requested_at, reverse=True)
    return rows


def _requested_at(row: dict[str, Any]) -> datetime:
    requested: datetime = row["requested_at"]
    return requested
