"""A project's ratings -> the crowd's noise and each rater's noise and reliability."""

from dataclasses import dataclass

import numpy as np

from annotate.models import RaterProfile, Rating, Target
from learner.raters import CrowdEstimates, crowd_estimates, serve_easy_first


@dataclass(frozen=True)
class CrowdPlan:
    """`crowd_estimates` of a project, indexed by `rater_ids` and `targets` (names)."""

    rater_ids: list[int]
    targets: list[str]
    estimates: CrowdEstimates


def project_crowd(*, project_id: int) -> CrowdPlan | None:
    """Every rating of the project as a (clips, raters, targets) table, estimated;
    None while the project has no rating."""
    rows = list(
        Rating.objects.filter(clip__project_id=project_id).values_list(
            "clip_id", "rater_id", "values"
        )
    )
    if not rows:
        return None
    targets = list(
        Target.objects.filter(project_id=project_id)
        .order_by("position", "id")
        .values_list("name", flat=True)
    )
    clip_index = {c: i for i, c in enumerate(sorted({clip_id for clip_id, _, _ in rows}))}
    rater_ids = sorted({rater_id for _, rater_id, _ in rows})
    rater_index = {r: j for j, r in enumerate(rater_ids)}
    table = np.full((len(clip_index), len(rater_ids), len(targets)), np.nan)
    for clip_id, rater_id, values in rows:
        table[clip_index[clip_id], rater_index[rater_id]] = [
            np.nan if values.get(t) is None else values[t] for t in targets
        ]
    return CrowdPlan(rater_ids=rater_ids, targets=targets, estimates=crowd_estimates(table))


def serves_easy_first(profile: RaterProfile | None) -> bool:
    """Whether the rater, proven unreliable, gets the clips the model is surest of."""
    return profile is not None and serve_easy_first(
        reliability=profile.reliability, n_shared=profile.reliability_n
    )
