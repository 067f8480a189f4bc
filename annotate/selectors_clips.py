"""One clip as the inspector shows it: its ratings by rater, its labels with their
standard errors, the machine label and confidence, the reference, and why the system has
it where it is."""

import math
from typing import Any

from django.urls import reverse

from annotate.learning.label_error import human_label_errors
from annotate.models import (
    Clip,
    ClipState,
    Label,
    LabelSource,
    MachineLabelAudit,
    ModelVersion,
    Project,
    RaterBlock,
    RaterNoise,
    Rating,
    Target,
)


def _standard_errors(
    targets: list[Target], ratings: list[Rating], noise: dict[tuple[int, int], float]
) -> dict[str, float | None]:
    """Per target, the standard error of the label from the ratings that count
    (annotate.learning.label_error.human_label_errors, the weighting the label itself
    uses); None under two ratings without known noise."""
    errors = human_label_errors(
        ratings=[(r.clip_id, r.rater_id, r.values) for r in ratings],
        targets=targets,
        rater_noise=noise,
    )
    out: dict[str, float | None] = {}
    for target in targets:
        error = next((e for (_, name), e in errors.items() if name == target.name), None)
        out[target.name] = None if error is None else round(error, 4)
    return out


def _machine_labels(labels: list[Label]) -> dict[str, dict[str, Any]]:
    """The newest machine label per target, live or revoked (then with the reason)."""
    out: dict[str, dict[str, Any]] = {}
    for label in sorted(labels, key=lambda label: label.pk, reverse=True):
        if label.source != LabelSource.MACHINE or label.target in out:
            continue
        out[label.target] = {
            "value": label.value,
            "expected_error": label.confidence,
            "model_version": label.model_version,
            "live": label.revoked_at is None,
            "revoked_reason": label.revoked_reason or None,
            "created_at": label.created_at,
        }
    return out


def _self_label_bar(project: Project, version: ModelVersion | None) -> float | None:
    """The expected-error bar a clip must meet on every target to be self-labelled:
    the smaller of the model version's threshold (chosen on development clips) and the
    project's own maximum (annotate.learning.scoring.pool_plan)."""
    if version is None:
        return None
    threshold = version.metrics.get("self_label_threshold")
    if threshold is None:
        return None
    return min(float(threshold), project.self_label_max_error)


def clip_why(
    *,
    clip: Clip,
    project: Project,
    human: dict[str, dict[str, Any]],
    machine: dict[str, dict[str, Any]],
    standard_errors: dict[str, float | None],
    crowd_noise: dict[str, float | None],
    version: ModelVersion | None,
    open_audit: MachineLabelAudit | None,
) -> str:
    """A sentence from what the system knows about why the clip is in its state."""
    bar = _self_label_bar(project, version)
    live_machine = {t: m for t, m in machine.items() if m["live"]}
    worst = max(
        (m["expected_error"] for m in live_machine.values() if m["expected_error"] is not None),
        default=None,
    )
    leases = f", {clip.active_leases} leased now" if clip.active_leases else ""
    if clip.state == ClipState.NEW:
        return "Not scored yet: it waits for its features and the first model."
    if clip.state == ClipState.MACHINE_LABELLED:
        names = ", ".join(sorted({m["model_version"] for m in live_machine.values()}))
        if worst is None:
            return "Machine-labelled; its model recorded no expected error."
        bar_text = f"the self-label bar {bar:.3f}" if bar is not None else "the self-label bar"
        return (
            f"Self-labelled by {names or 'a model'}: its worst expected error "
            f"{worst:.3f} is within {bar_text} (the lower of the model's threshold and "
            f"the project's maximum {project.self_label_max_error:.3f})."
        )
    if clip.state == ClipState.DEFERRED:
        return (
            "Deferred: the model is not confident enough to label it itself, and it was "
            f"not among the {project.human_budget_per_round} most informative clips sent "
            "to humans this round; it waits for a later round."
        )
    wanted, got = clip.ratings_wanted, clip.n_ratings
    if clip.state == ClipState.AWAITING_HUMANS:
        parts = [f"Queued for humans: wants {wanted} ratings, has {got}{leases}."]
        if open_audit is not None:
            parts.append(
                f"Sent back by a machine-label audit of {open_audit.model_version.name} "
                "to measure how wrong its machine labels are."
            )
        elif got == 0 and worst is not None and bar is not None:
            parts.append(f"The model's worst expected error {worst:.3f} exceeds the bar {bar:.3f}.")
        elif got == 0:
            parts.append(f"Priority {clip.priority:.3f} in the queue.")
        if got and got >= project.min_raters:
            parts.append(_disagreement(project, human, standard_errors, crowd_noise))
        return " ".join(p for p in parts if p)
    # Rated.
    return f"Rated: it has {got} of the {wanted} ratings it wants. " + _agreement_summary(
        project, human, standard_errors, crowd_noise
    )


def _disagreement(
    project: Project,
    human: dict[str, dict[str, Any]],
    standard_errors: dict[str, float | None],
    crowd_noise: dict[str, float | None],
) -> str:
    for target, label in human.items():
        noise = crowd_noise.get(target)
        error = standard_errors.get(target)
        if noise is not None and error is not None:
            bar = noise / math.sqrt(project.rater_panel)
            if error > bar:
                return (
                    f"One more rater is asked because the {target} label's standard error "
                    f"{error:.3f} is above that of {project.rater_panel} typical raters "
                    f"({bar:.3f})."
                )
        elif label["agreement"] is not None and label["agreement"] < project.agreement_target:
            return (
                f"One more rater is asked because agreement on {target} is "
                f"{label['agreement']:.2f}, below the target {project.agreement_target:.2f}."
            )
    return ""


def _agreement_summary(
    project: Project,
    human: dict[str, dict[str, Any]],
    standard_errors: dict[str, float | None],
    crowd_noise: dict[str, float | None],
) -> str:
    parts = []
    for target, label in human.items():
        noise = crowd_noise.get(target)
        error = standard_errors.get(target)
        if noise is not None and error is not None:
            parts.append(
                f"{target} standard error {error:.3f} "
                f"(bar {noise / math.sqrt(project.rater_panel):.3f})"
            )
        elif label["agreement"] is not None:
            parts.append(
                f"{target} agreement {label['agreement']:.2f} "
                f"(target {project.agreement_target:.2f})"
            )
    if not parts:
        return ""
    return "Its label is settled: " + "; ".join(parts) + "."


def clip_inspect(*, clip: Clip) -> dict[str, Any]:
    """Everything the inspector shows of a clip (staff only: it holds reference labels)."""
    project = clip.project
    targets = list(project.targets.all())
    ratings = list(
        Rating.objects.filter(clip=clip).select_related("rater").order_by("created_at", "id")
    )
    excluded = set(
        RaterBlock.objects.filter(project=project, exclude_ratings=True).values_list(
            "rater_id", flat=True
        )
    )
    noise = {
        (target_id, rater_id): value
        for target_id, rater_id, value in RaterNoise.objects.filter(
            target__project=project, rater_id__in=[r.rater_id for r in ratings]
        ).values_list("target_id", "rater_id", "noise")
    }
    labels = list(Label.objects.filter(clip=clip))
    counted = [r for r in ratings if r.rater_id not in excluded]
    standard_errors = _standard_errors(targets, counted, noise)
    human = {
        label.target: {
            "value": label.value,
            "standard_error": standard_errors.get(label.target),
            "n_ratings": label.n_ratings,
            "agreement": label.agreement,
        }
        for label in labels
        if label.source == LabelSource.HUMAN and label.revoked_at is None
    }
    machine = _machine_labels(labels)
    version_names = {m["model_version"] for m in machine.values() if m["model_version"]}
    versions = {
        v.name: v for v in ModelVersion.objects.filter(project=project, name__in=version_names)
    }
    version = (
        next(
            (
                versions[m["model_version"]]
                for m in machine.values()
                if m["model_version"] in versions
            ),
            None,
        )
        or ModelVersion.objects.filter(project=project, is_active=True).first()
    )
    open_audit = (
        MachineLabelAudit.objects.filter(clip=clip, completed_at__isnull=True)
        .select_related("model_version")
        .first()
    )
    crowd_noise = {t.name: t.rater_noise for t in targets}
    return {
        "id": clip.pk,
        "project": project.pk,
        "external_id": clip.external_id,
        "original_name": clip.original_name,
        "audio_url": reverse("api:clip-audio", args=[clip.pk]),
        "duration_s": clip.duration_s,
        "peaks": clip.peaks,
        "speaker": clip.speaker,
        "state": clip.state,
        "priority": clip.priority,
        "ratings_wanted": clip.ratings_wanted,
        "n_ratings": clip.n_ratings,
        "active_leases": clip.active_leases,
        "targets": [t.name for t in targets],
        "ratings": [
            {
                "id": r.pk,
                "rater": r.rater_id,
                "rater_name": r.rater.get_username(),
                "values": r.values,
                "time_spent_ms": r.time_spent_ms,
                "created_at": r.created_at,
                "source": r.source,
                "excluded": r.rater_id in excluded,
            }
            for r in ratings
        ],
        "label": human,
        "machine": machine,
        "self_label_bar": _self_label_bar(project, version),
        "reference": {ref.target: ref.value for ref in clip.reference_labels.all()},
        "audit": None
        if open_audit is None
        else {"id": open_audit.pk, "model_version": open_audit.model_version.name},
        "why": clip_why(
            clip=clip,
            project=project,
            human=human,
            machine=machine,
            standard_errors=standard_errors,
            crowd_noise=crowd_noise,
            version=version,
            open_audit=open_audit,
        ),
    }
