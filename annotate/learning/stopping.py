"""A project's learning curve -> whether more human ratings add little (learner.stopping).

A point of the curve is a succeeded training run: the human ratings the project had
when the run started, and its candidate's CCC per target on the project's fixed
development speakers (metrics "dev_ccc", learner.training.train_candidate). Test gold
has no part in it: the platform has none.
"""

from typing import Any

import numpy as np
from django.db.models import Count, Q
from django.db.models.functions import Coalesce

from annotate.models import Project, Rating, RunState, TrainingRun
from learner.stopping import StopSignal, stop_signal

__all__ = ["project_stop_signal"]


def _points(project: Project, targets: list[str]) -> list[dict[str, Any]]:
    """The learning curve, oldest run first; of runs at the same number of ratings, the
    latest (it saw the same labels, with the newest code and settings)."""
    runs = list(
        TrainingRun.objects.filter(project=project, state=RunState.SUCCEEDED)
        .annotate(at=Coalesce("started_at", "created_at"))
        .order_by("at", "id")
        .values("id", "at", "metrics")
    )
    runs = [run for run in runs if isinstance(run["metrics"].get("dev_ccc"), dict)]
    if not runs:
        return []
    # Every run's count in one query: ratings created up to the run's start.
    counts = Rating.objects.filter(clip__project=project).aggregate(
        **{f"run_{run['id']}": Count("pk", filter=Q(created_at__lte=run["at"])) for run in runs}
    )
    by_cost: dict[int, dict[str, Any]] = {}
    for run in runs:
        cost = counts[f"run_{run['id']}"]
        if cost == 0:
            continue  # labels without ratings (imported): no point on a curve of ratings
        dev_ccc = run["metrics"]["dev_ccc"]
        by_cost[cost] = {
            "run": run["id"],
            "started_at": run["at"],
            "ratings": cost,
            "dev_ccc": {target: dev_ccc.get(target) for target in targets},
            "vs_active": run["metrics"].get("vs_active"),
        }
    return [by_cost[cost] for cost in sorted(by_cost)]


def project_stop_signal(*, project: Project) -> dict[str, Any]:
    """The project's learning curve (`points`, oldest first) and the stop signal on it
    (`signal`: learner.stopping.StopSignal.to_dict(); `round_index` indexes `points`).

    Reads only; an empty curve (no succeeded run after any rating) does not fire, and
    its reason says so.
    """
    targets = list(project.targets.order_by("position", "id").values_list("name", flat=True))
    points = _points(project, targets)
    if points:
        signal = stop_signal(
            [point["ratings"] for point in points],
            np.array(
                [[np.nan if v is None else v for v in p["dev_ccc"].values()] for p in points],
                dtype=np.float64,
            ).reshape(len(points), len(targets)),
            targets=targets,
        )
    else:
        signal = StopSignal(
            fired=False,
            at_cost=None,
            round_index=None,
            targets=tuple(targets),
            plateau=(None,) * len(targets),
            gain=(None,) * len(targets),
            flat=(),
            reason="no learning curve yet: no training run has succeeded after human ratings",
        )
    return {"targets": targets, "points": points, "signal": signal.to_dict()}
