"""Everything the researcher and admin dashboard draws, in one read (issue 15, must-have 1).

Every part is an aggregate in SQL or a bounded slice (`QUEUE_ROWS`, `MODEL_ROWS`,
`SNAPSHOT_LIMIT`), so the number of queries and the rows read do not grow with the
clips or ratings of the project:

- `states`: clips per state now (`leased`: awaiting humans with a live lease), as
  `annotate.selectors.project_stats` counts them, and `snapshots`, the same counts over
  time (annotate.services.snapshots);
- `ratings`: the human ratings spent so far, by whom and how long they took, and
  `ratings_per_hour` over the last 48 hours of rating (or the project's span if shorter);
- `labels`: live labels per source (human, machine), overall and per target;
- `agreement`: a histogram of the agreement of human labels per target, only of labels
  with two ratings or more (one rating has nothing to agree with);
- `learning_curve`: development CCC per target against ratings spent and the learner's
  stop signal (annotate.learning.stopping), with a sentence saying whether it fired;
- `models`: the newest model versions with readable metrics and why each labels what it
  labels;
- `queue`: the head of the human queue in the order raters are served
  (annotate.services.assignments: clips others started first, then priority).
"""

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Max, Min, Q, Sum
from django.db.models.functions import Floor
from django.utils import timezone

from annotate.learning.stopping import project_stop_signal
from annotate.models import (
    QUEUE_ORDER,
    Clip,
    ClipState,
    Label,
    LabelSource,
    ModelVersion,
    Project,
    ProjectSnapshot,
    Rating,
    RatingSource,
)
from annotate.selectors import clip_state_counts

AGREEMENT_BINS = 10
RATE_WINDOW_HOURS = 48
SNAPSHOT_WINDOW = timedelta(days=14)
SNAPSHOT_LIMIT = 500
QUEUE_ROWS = 20
MODEL_ROWS = 20


def _number(value: Any) -> float | None:
    """A finite float from a metrics value, else None (missing, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _per_target(values: Any, targets: list[str]) -> dict[str, float | None]:
    values = values if isinstance(values, dict) else {}
    return {target: _number(values.get(target)) for target in targets}


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _states(project: Project) -> dict[str, int]:
    return clip_state_counts(Clip.objects.filter(project=project))


def _ratings(project: Project) -> dict[str, Any]:
    totals = Rating.objects.filter(clip__project=project).aggregate(
        total=Count("id"),
        imported=Count("id", filter=Q(source=RatingSource.IMPORT)),
        raters=Count("rater", distinct=True),
        time_ms=Sum("time_spent_ms"),
        first_at=Min("created_at"),
        last_at=Max("created_at"),
    )
    return {
        "total": totals["total"],
        "in_concord": totals["total"] - totals["imported"],
        "imported": totals["imported"],
        "raters": totals["raters"],
        "hours_spent": round((totals["time_ms"] or 0) / 3_600_000, 3),
        "first_at": totals["first_at"],
        "last_at": totals["last_at"],
    }


def _ratings_per_hour(
    project: Project, ratings: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """Ratings per UTC hour, zeros included: the last 48 hours up to now, or up to the
    last rating when the project has been quiet for longer; never before the first."""
    if ratings["last_at"] is None:
        return []
    last = ratings["last_at"]
    end = _hour(now if now - last < timedelta(hours=RATE_WINDOW_HOURS) else last)
    start = max(end - timedelta(hours=RATE_WINDOW_HOURS - 1), _hour(ratings["first_at"]))
    hours = int((end - start) / timedelta(hours=1)) + 1
    moments = [start + timedelta(hours=i) for i in range(hours)]
    # One count per hour in one query: plain comparisons, no per-row date function.
    counts = Rating.objects.filter(
        clip__project=project, created_at__gte=start, created_at__lt=end + timedelta(hours=1)
    ).aggregate(
        **{
            f"h{i}": Count(
                "id", filter=Q(created_at__gte=moment, created_at__lt=moment + timedelta(hours=1))
            )
            for i, moment in enumerate(moments)
        }
    )
    return [{"hour": moment, "ratings": counts[f"h{i}"]} for i, moment in enumerate(moments)]


def _labels(project: Project, targets: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Live labels per source (overall and per target), and per target the human labels
    with and without agreement (`labels`, `single_rating`) and the mean agreement."""
    by_target = {target: {"human": 0, "machine": 0} for target in targets}
    agreement: dict[str, dict[str, Any]] = {
        target: {
            "counts": [0] * AGREEMENT_BINS,
            "labels": 0,
            "single_rating": 0,
            "mean": None,
        }
        for target in targets
    }
    live = Label.objects.filter(clip__project=project, revoked_at__isnull=True)
    human = Q(source=LabelSource.HUMAN)
    rated_by_several = human & Q(n_ratings__gte=2, agreement__isnull=False)
    rows = (
        live.values("target", "source")
        .annotate(
            n=Count("id"),
            several=Count("id", filter=rated_by_several),
            single=Count("id", filter=human & Q(n_ratings__lt=2)),
            mean=Avg("agreement", filter=rated_by_several),
        )
        .order_by()
    )
    for row in rows:
        if row["target"] not in by_target or row["source"] not in ("human", "machine"):
            continue  # a target removed since, or an unknown source: not on the charts
        by_target[row["target"]][row["source"]] = row["n"]
        if row["source"] == LabelSource.HUMAN:
            part = agreement[row["target"]]
            part["labels"] = row["several"]
            part["single_rating"] = row["single"]
            part["mean"] = None if row["mean"] is None else round(row["mean"], 4)
    bins = (
        live.filter(rated_by_several)
        .annotate(bin=Floor(F("agreement") * AGREEMENT_BINS))
        .values("target", "bin")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in bins:
        if row["target"] in agreement:
            index = min(max(int(row["bin"]), 0), AGREEMENT_BINS - 1)  # 1.0 is in the last bin
            agreement[row["target"]]["counts"][index] += row["n"]
    labels = {
        "human": sum(part["human"] for part in by_target.values()),
        "machine": sum(part["machine"] for part in by_target.values()),
        "by_target": by_target,
    }
    return labels, {
        "bins": [round(i / AGREEMENT_BINS, 3) for i in range(AGREEMENT_BINS + 1)],
        "targets": agreement,
    }


def _snapshots(project: Project, now: datetime) -> list[dict[str, Any]]:
    rows = list(
        ProjectSnapshot.objects.filter(project=project, taken_at__gte=now - SNAPSHOT_WINDOW)
        .order_by("-taken_at")
        .values("taken_at", "states", "labels", "ratings")[:SNAPSHOT_LIMIT]
    )
    rows.reverse()
    return [{**row} for row in rows]


def stop_sentence(signal: dict[str, Any], n_points: int) -> str:
    """Whether the stop signal fired, and why, in a sentence for the page."""
    if signal["fired"]:
        return (
            f"The stop signal fired at {signal['at_cost']} human ratings: "
            f"{signal['reason']}. Further ratings mainly buy labels for the clips "
            "themselves, not a better model."
        )
    if n_points == 0:
        return f"The stop signal has not fired: {signal['reason']}."
    return (
        f"The stop signal has not fired after {n_points} training "
        f"{'run' if n_points == 1 else 'runs'}: {signal['reason']}."
    )


def _learning_curve(project: Project) -> dict[str, Any]:
    curve = project_stop_signal(project=project)
    curve["sentence"] = stop_sentence(curve["signal"], len(curve["points"]))
    return curve


def self_label_why(metrics: dict[str, Any], project: Project) -> str:
    """Why a model version labels what it labels: `metrics.self_label_why` when the
    training run wrote one, else a sentence from its threshold, the share of development
    clips under it and their machine labels' error. The bar applied when scoring is the
    version's threshold capped by the project's current maximum
    (annotate.learning.scoring.pool_plan)."""
    given = metrics.get("self_label_why")
    if isinstance(given, str) and given.strip():
        return given.strip()
    threshold = _number(metrics.get("self_label_threshold"))
    share = _number(metrics.get("dev_self_label_share"))
    mae = _number(metrics.get("dev_machine_label_mae"))
    if metrics.get("zero_shot"):
        return (
            f"A prior's model ({metrics['zero_shot']}) used before any rating: it ranks the "
            "queue and labels no clip itself."
        )
    if threshold is None:
        return "Its metrics record no self-label threshold, so the page cannot say."
    target = f"the project's {project.machine_label_target_error:.3f}"
    if project.machine_labels_as_good_as_humans:
        target += f", or a {project.rater_panel}-rater human label's error where smaller"
    if threshold <= 0:
        return (
            "Labels no clip itself: at no expected-error bar did the machine labels of its "
            f"development clips stay within the target error ({target}), so its "
            "self-label threshold is 0."
        )
    bar = min(threshold, project.self_label_max_error)
    text = (
        f"Labels a clip itself only where its expected absolute error is at most {bar:.3f} "
        "on every target. "
    )
    if bar < threshold:
        text += (
            f"Its own bar, {threshold:.3f}, is capped by the project's maximum "
            f"{project.self_label_max_error:.3f}."
        )
    else:
        text += (
            "That is the largest bar at which the machine labels of its development clips "
            f"stayed within the target error ({target})."
        )
    if share is not None:
        text += f" That bar took {share:.0%} of its development clips"
        text += "." if mae is None else f", whose machine labels were off by {mae:.3f} on average."
    return text


def _queue_order(metrics: dict[str, Any]) -> str | None:
    """The queue order it chose, "uncertainty" or "random" (learner.cooperative.QueueOrder);
    None for a model from before the choice."""
    chosen = metrics.get("queue_order")
    order = chosen.get("order") if isinstance(chosen, dict) else None
    return {"top": "uncertainty", "random": "random"}.get(order) if isinstance(order, str) else None


def _prior_why(metrics: dict[str, Any]) -> str | None:
    prior = metrics.get("prior")
    why = prior.get("why") if isinstance(prior, dict) else None
    return why if isinstance(why, str) and why else None


def _models(project: Project, targets: list[str]) -> list[dict[str, Any]]:
    # The newest versions, and the active one even when it is older.
    newest = ModelVersion.objects.filter(project=project).order_by("-id").values("id")
    versions = ModelVersion.objects.filter(
        Q(pk__in=newest[:MODEL_ROWS]) | Q(project=project, is_active=True)
    ).order_by("-id")
    machine_clips = dict(
        Label.objects.filter(
            clip__project=project, revoked_at__isnull=True, source=LabelSource.MACHINE
        )
        .values("model_version")
        .annotate(n=Count("clip", distinct=True))
        .order_by()
        .values_list("model_version", "n")
    )
    rows = []
    for version in versions:
        metrics = version.metrics if isinstance(version.metrics, dict) else {}
        threshold = _number(metrics.get("self_label_threshold"))
        rows.append(
            {
                "name": version.name,
                "run": version.run_id,
                "is_active": version.is_active,
                "created_at": version.created_at,
                "promoted_at": version.promoted_at,
                "dev_ccc": _per_target(metrics.get("dev_ccc"), targets),
                "confidence_rank": _per_target(metrics.get("confidence_rank"), targets),
                "queue_order": _queue_order(metrics),
                "self_label_threshold": threshold,
                "self_label_bar": None
                if threshold is None
                else min(threshold, project.self_label_max_error),
                "dev_self_label_share": _number(metrics.get("dev_self_label_share")),
                "dev_machine_label_mae": _number(metrics.get("dev_machine_label_mae")),
                "machine_labelled_clips": machine_clips.get(version.name, 0),
                "why": self_label_why(metrics, project),
                "prior_why": _prior_why(metrics),
            }
        )
    return rows


def _queue(project: Project, states: dict[str, int]) -> dict[str, Any]:
    """The head of the human queue as raters are served it
    (annotate.services.assignments: open clips in `QUEUE_ORDER`): clips with an open
    slot, those others have started first (most ratings first), then by priority."""
    open_clips = Clip.objects.filter(
        project=project,
        state=ClipState.AWAITING_HUMANS,
        active_leases__lt=F("ratings_wanted") - F("n_ratings"),
    )
    head = list(
        open_clips.order_by(*QUEUE_ORDER).values(
            "id",
            "external_id",
            "speaker",
            "n_ratings",
            "ratings_wanted",
            "active_leases",
            "priority",
        )[:QUEUE_ROWS]
    )
    n_open = open_clips.count()
    awaiting = states["awaiting_humans"] + states["leased"]
    rows = [
        {
            "rank": rank,
            "clip": row["id"],
            "external_id": row["external_id"] or "",
            "speaker": row["speaker"],
            "n_ratings": row["n_ratings"],
            "ratings_wanted": row["ratings_wanted"],
            "active_leases": row["active_leases"],
            "started": row["n_ratings"] > 0,
            "priority": row["priority"],
        }
        for rank, row in enumerate(head, start=1)
    ]
    return {"open": n_open, "fully_leased": max(awaiting - n_open, 0), "rows": rows}


def project_dashboard(*, project: Project, now: datetime | None = None) -> dict[str, Any]:
    """The dashboard's data for a project already resolved through annotate.access."""
    now = now or timezone.now()
    targets = list(project.targets.order_by("position", "id").values_list("name", flat=True))
    states = _states(project)
    ratings = _ratings(project)
    labels, agreement = _labels(project, targets)
    return {
        "project": {
            "id": project.pk,
            "name": project.name,
            "paused": project.paused,
            "prior": project.prior.label if project.prior is not None else None,
        },
        "generated_at": now,
        "targets": targets,
        "clips": sum(states.values()),
        "states": states,
        "snapshots": _snapshots(project, now),
        "ratings": ratings,
        "ratings_per_hour": _ratings_per_hour(project, ratings, now),
        "labels": labels,
        "agreement": agreement,
        "learning_curve": _learning_curve(project),
        "models": _models(project, targets),
        "queue": _queue(project, states),
    }
