"""Taking ratings: validation, idempotent storage, and what a clip needs next."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate.errors import Conflict, NotFound, PermissionDenied, ValidationError
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Clip,
    ClipState,
    Label,
    LabelSource,
    Project,
    RaterNoise,
    RaterProfile,
    Rating,
    RatingMode,
    Target,
)
from annotate.queueing import enqueue
from learner.agreement import clip_agreement, ewe_gold
from learner.raters import clip_needs_another_rater, weighted_label

TRACE_HZ = 25.0
MAX_CLIENT_TOKEN = 64


@dataclass(frozen=True)
class SubmitResult:
    rating: Rating
    created: bool


def _as_number(target: Target, raw: object) -> float:
    # bool is an int subclass: true/false are not ratings.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValidationError(
            f"value for '{target.name}' must be a number, got {type(raw).__name__}",
            code="not_a_number",
        )
    value = float(raw)
    if not math.isfinite(value):
        raise ValidationError(
            f"value for '{target.name}' must be finite, got {raw}", code="not_finite"
        )
    if not target.scale_min <= value <= target.scale_max:
        raise ValidationError(
            f"value for '{target.name}' is {value}, outside its scale "
            f"[{target.scale_min}, {target.scale_max}]",
            code="out_of_scale",
        )
    return value


def rating_values_validate(*, targets: Sequence[Target], values: object) -> dict[str, float]:
    """Checked `{target: value}`: every target present, known, finite and on its scale."""
    if not isinstance(values, Mapping):
        raise ValidationError("values must be an object {target: number}", code="bad_values")
    known = {target.name: target for target in targets}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValidationError(
            f"unknown target(s): {', '.join(map(str, unknown))}; this project rates "
            f"{', '.join(known)}",
            code="unknown_target",
        )
    missing = [name for name in known if name not in values]
    if missing:
        raise ValidationError(
            f"missing value for target(s): {', '.join(missing)}", code="missing_target"
        )
    return {name: _as_number(target, values[name]) for name, target in known.items()}


def rating_trace_validate(
    *, targets: Sequence[Target], trace: object, duration_s: float
) -> dict[str, list[float]]:
    """Checked `{target: [values at 25 Hz]}` covering the clip (a few samples of slack)."""
    if not isinstance(trace, Mapping):
        raise ValidationError("trace must be an object {target: [numbers]}", code="bad_trace")
    known = {target.name: target for target in targets}
    expected = math.ceil(duration_s * TRACE_HZ)
    checked: dict[str, list[float]] = {}
    for name, samples in trace.items():
        if name not in known:
            raise ValidationError(f"trace for unknown target '{name}'", code="unknown_target")
        if not isinstance(samples, list) or not samples:
            raise ValidationError(f"trace for '{name}' must be a non-empty list", code="bad_trace")
        if abs(len(samples) - expected) > max(5, expected // 10):
            raise ValidationError(
                f"trace for '{name}' has {len(samples)} samples; a {duration_s:.2f} s clip at "
                f"{TRACE_HZ:g} Hz needs about {expected}",
                code="bad_trace_length",
            )
        checked[name] = [_as_number(known[name], sample) for sample in samples]
    return checked


def _replayed(*, rater: AbstractBaseUser, client_token: str, assignment_id: int) -> Rating | None:
    rating = Rating.objects.filter(rater=rater, client_token=client_token).first()
    if rating is not None and rating.assignment_id != assignment_id:
        raise Conflict(
            f"client_token {client_token!r} was already used for another assignment",
            code="token_reused",
        )
    return rating


def rating_submit(
    *,
    rater: AbstractBaseUser,
    assignment_id: int,
    values: object,
    client_token: str,
    time_spent_ms: int | None = None,
    trace: object = None,
) -> SubmitResult:
    """Store a rater's rating for their lease, exactly once per client_token.

    The same request again returns the stored rating (created=False). Completes the
    lease, updates the clip's counters and label, and decides whether it needs more
    raters (`clip_settle`).
    """
    if not isinstance(client_token, str) or not 8 <= len(client_token) <= MAX_CLIENT_TOKEN:
        raise ValidationError(
            f"client_token must be a string of 8 to {MAX_CLIENT_TOKEN} characters", code="bad_token"
        )
    if (
        replay := _replayed(rater=rater, client_token=client_token, assignment_id=assignment_id)
    ) is not None:
        return SubmitResult(replay, created=False)
    assignment = (
        Assignment.objects.select_related("clip", "project").filter(pk=assignment_id).first()
    )
    if assignment is None:
        raise NotFound(f"assignment {assignment_id} does not exist", code="no_assignment")
    if assignment.rater_id != rater.pk:
        raise PermissionDenied(
            f"assignment {assignment_id} is leased to another rater", code="not_your_lease"
        )
    project = assignment.project
    targets = list(project.targets.all())
    checked_values = rating_values_validate(targets=targets, values=values)
    checked_trace = None
    if trace is not None:
        checked_trace = rating_trace_validate(
            targets=targets, trace=trace, duration_s=assignment.clip.duration_s
        )
    elif project.rating_mode == RatingMode.TRACE:
        raise ValidationError(
            "this project rates time-continuous traces: send a trace", code="trace_required"
        )
    if time_spent_ms is not None and (not isinstance(time_spent_ms, int) or time_spent_ms < 0):
        raise ValidationError("time_spent_ms must be a non-negative integer", code="bad_time_spent")

    now = timezone.now()
    with transaction.atomic():
        completed = Assignment.objects.filter(
            pk=assignment.pk, status=AssignmentStatus.ACTIVE, expires_at__gt=now
        ).update(status=AssignmentStatus.COMPLETED)
        if not completed:
            # A parallel copy of this very request may have just won.
            replay = _replayed(rater=rater, client_token=client_token, assignment_id=assignment.pk)
            if replay is not None:
                return SubmitResult(replay, created=False)
            assignment.refresh_from_db(fields=["status"])
            if assignment.status == AssignmentStatus.COMPLETED:
                raise Conflict(
                    f"assignment {assignment.pk} was already rated", code="already_rated"
                )
            raise Conflict(
                f"the lease of assignment {assignment.pk} expired at "
                f"{assignment.expires_at.isoformat()}; ask for the next clip",
                code="lease_expired",
            )
        try:
            with transaction.atomic():
                rating = Rating.objects.create(
                    clip_id=assignment.clip_id,
                    rater=rater,
                    assignment=assignment,
                    values=checked_values,
                    trace=checked_trace,
                    trace_hz=TRACE_HZ if checked_trace else None,
                    time_spent_ms=time_spent_ms,
                    client_token=client_token,
                )
        except IntegrityError:
            raise Conflict("you have already rated this clip", code="already_rated") from None
        Clip.objects.filter(pk=assignment.clip_id).update(
            active_leases=Greatest(F("active_leases") - 1, 0)
        )
        clip_settle(clip_id=assignment.clip_id)
        transaction.on_commit(lambda: _after_rating(project.pk))
    return SubmitResult(rating, created=True)


def _after_rating(project_id: int) -> None:
    from annotate.tasks import project_after_ratings_task

    # A broker outage only delays this: the next rating, or the periodic refresh, redoes it.
    enqueue(project_after_ratings_task, project_id, timezone.now().isoformat())


def _human_label_write(
    *, clip: Clip, target: str, value: float, n_ratings: int, agreement: float
) -> None:
    live = (
        Label.objects.select_for_update()
        .filter(clip=clip, target=target, revoked_at__isnull=True)
        .first()
    )
    if live is not None and live.source == LabelSource.HUMAN:
        live.value, live.n_ratings, live.agreement = value, n_ratings, agreement
        live.save(update_fields=["value", "n_ratings", "agreement"])
        return
    if live is not None:
        live.revoked_at = timezone.now()
        live.revoked_reason = "human ratings arrived"
        live.save(update_fields=["revoked_at", "revoked_reason"])
    Label.objects.create(
        clip=clip,
        target=target,
        value=value,
        source=LabelSource.HUMAN,
        n_ratings=n_ratings,
        agreement=agreement,
    )


def clip_settle(*, clip_id: int) -> Clip:
    """Recompute a clip's human labels, agreement and state from all its ratings.

    Once a target's crowd noise is known, its label weights each rating by 1 / noise^2 of
    its rater (their own noise, RaterNoise, or the crowd's for raters not yet measured;
    learner.raters.weighted_label); before that, by reliability (EWE). A clip stays with
    humans while it has fewer ratings than wanted; when it has them, it asks one more
    rater while its label is less certain than the mean of `rater_panel` typical raters
    (its standard error, from its raters' own noise, against the crowd's noise over
    sqrt(panel): a rater known to be reliable can settle a clip alone), or, while some
    rated target's noise is still unknown, while its lowest per-target agreement is below
    `agreement_target`; never beyond `max_raters` (learner.raters.clip_needs_another_rater).
    Otherwise it is rated. Safe to call again at any time.
    """
    with transaction.atomic():
        clip = Clip.objects.select_for_update().select_related("project").get(pk=clip_id)
        project: Project = clip.project
        ratings = list(Rating.objects.filter(clip=clip).values_list("rater_id", "values"))
        reliability = dict(
            RaterProfile.objects.filter(user_id__in=[r for r, _ in ratings]).values_list(
                "user_id", "reliability"
            )
        )
        own_noise = {
            (target_id, rater_id): noise
            for target_id, rater_id, noise in RaterNoise.objects.filter(
                target__project=project, rater_id__in=[r for r, _ in ratings]
            ).values_list("target_id", "rater_id", "noise")
        }
        agreements, rated_targets = [], []
        for target in project.targets.all():
            rated = [(r, v[target.name]) for r, v in ratings if v.get(target.name) is not None]
            if not rated:
                continue
            rated_targets.append(target)
            values = [value for _, value in rated]
            agreement = clip_agreement(
                values, scale_min=target.scale_min, scale_max=target.scale_max
            )
            if target.rater_noise is None:
                gold = ewe_gold(values, [reliability.get(r, 1.0) for r, _ in rated])
            else:
                noises = [own_noise.get((target.pk, r), target.rater_noise) for r, _ in rated]
                label, _ = weighted_label(np.array(values)[:, None], np.array(noises)[:, None])
                gold = float(label[0])
            _human_label_write(
                clip=clip,
                target=target.name,
                value=gold,
                n_ratings=len(values),
                agreement=agreement,
            )
            agreements.append(agreement)
        clip.n_ratings = len(ratings)
        if ratings and clip.state in (ClipState.AWAITING_HUMANS, ClipState.RATED):
            # The learner may start an easy clip with fewer raters than the project minimum.
            wanted = clip.ratings_wanted or project.min_raters
            if clip.n_ratings >= wanted:
                # (ratings, targets), NaN where missing; noise NaN where still unknown.
                table = np.array(
                    [[v.get(t.name) for t in rated_targets] for _, v in ratings], dtype=np.float64
                ).reshape(clip.n_ratings, len(rated_targets))
                more = clip_needs_another_rater(
                    table,
                    np.array([t.rater_noise for t in rated_targets], dtype=np.float64),
                    panel=project.rater_panel,
                    max_raters=project.max_raters,
                    agreement=min(agreements, default=1.0),
                    agreement_target=project.agreement_target,
                    rater_noise=np.array(
                        [
                            [own_noise.get((t.pk, r), np.nan) for t in rated_targets]
                            for r, _ in ratings
                        ],
                        dtype=np.float64,
                    ).reshape(table.shape),
                )
                wanted = clip.n_ratings + 1 if more else clip.n_ratings
            clip.ratings_wanted = max(wanted, clip.active_leases)
            clip.state = (
                ClipState.AWAITING_HUMANS
                if clip.n_ratings < clip.ratings_wanted
                else ClipState.RATED
            )
        clip.save(update_fields=["n_ratings", "ratings_wanted", "state"])
    return clip
