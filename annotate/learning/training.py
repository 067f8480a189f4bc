"""Labelled clips -> a candidate model, compared with the active one, and promotion."""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from annotate.learning.config import learner_config
from annotate.learning.features import feature_cache, normalisations_to_try
from annotate.learning.label_error import label_errors
from annotate.learning.labelled import labelled_set
from annotate.learning.prior import warm_views
from annotate.learning.scoring import bundle_load
from annotate.models import ModelVersion, Project
from learner.training import Candidate, choose_on_dev, train_candidate

__all__ = ["Candidate", "candidate_train", "label_errors", "labelled_set", "prior_verdict"]


def candidate_train(
    *, project: Project, progress: Callable[[float], None] | None = None
) -> Candidate:
    """Train a candidate on the project's labels and compare it with the active model on
    the project's development speakers (learner.training.train_candidate). Raises
    ValueError with too few labels.

    With the project's normalisation "auto", the features' normalisation is chosen
    first, on the same development speakers (learner.training.choose_on_dev); a
    project's prior competes there too, learning with the project's labels in each of
    learner.prior.PLATFORM_MODES, and is dropped when a cold model does better."""
    config = learner_config(project)
    views = {
        name: labelled_set(project, normalisation=name) for name in normalisations_to_try(project)
    }
    cold = tuple(views)
    warm = warm_views(project, config, views)
    chosen, scores = choose_on_dev(
        {**views, **warm.views}, config, dev_seed=project.pk, configs=warm.configs
    )
    config = warm.configs.get(chosen) or replace(config, feature_normalisation=chosen)
    data = {**views, **warm.views}[chosen]
    data = replace(data, label_error=label_errors(project, data.clip_ids, config.targets))
    active = ModelVersion.objects.filter(project=project, is_active=True).first()
    previous = bundle_load(active) if active is not None else None
    active_X = None
    if (
        previous is not None
        and previous.extractor_key == config.extractor_key
        and previous.feature_normalisation != config.feature_normalisation
    ):
        # The same clips (same extractor) as the active model sees them.
        _, active_X = feature_cache.rows(
            project_id=project.pk,
            extractor_key=previous.extractor_key,
            normalisation=previous.feature_normalisation,
            clip_ids=data.clip_ids,
        )
    candidate = train_candidate(
        data,
        config,
        dev_seed=project.pk,
        active=previous,
        active_X=active_X,
        active_metrics=active.metrics if active is not None else None,
        progress=progress,
    )
    candidate.metrics["feature_normalisation"] = config.feature_normalisation
    finite = {name: score if np.isfinite(score) else None for name, score in scores.items()}
    if len(cold) > 1:
        candidate.metrics["normalisation_dev_ccc"] = {name: finite[name] for name in cold}
    if project.prior is not None:
        candidate.metrics["prior"] = prior_verdict(
            project.prior.label,
            chosen,
            {n: finite[n] for n in cold},
            {n.rsplit(":", 1)[1]: finite[n] for n in warm.views},
            problems=warm.problems,
        )
    return candidate


def prior_verdict(
    label: str,
    chosen: str,
    cold: dict[str, float | None],
    warm: dict[str, float | None],
    *,
    problems: tuple[str, ...] = (),
) -> dict[str, Any]:
    """What became of a project's prior in a retraining, for the researcher: used or
    dropped, how, and the development CCC with and without it (or, with `problems`,
    why it no longer fits the project)."""
    mode = chosen.rsplit(":", 1)[1] if "+prior:" in chosen else None
    best_cold = max((v for v in cold.values() if v is not None), default=None)
    best_warm = max((v for v in warm.values() if v is not None), default=None)

    def shown(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    if problems:
        why = f"prior {label} dropped: it no longer fits the project: " + "; ".join(problems)
    elif mode is not None:
        why = (
            f"prior {label} used ({mode}): development CCC {shown(best_warm)} with it, "
            f"{shown(best_cold)} without"
        )
    else:
        why = (
            f"prior {label} dropped: it does not help on the development speakers "
            f"(CCC {shown(best_warm)} with it, {shown(best_cold)} without)"
        )
    return {
        "name": label,
        "used": mode is not None,
        "mode": mode,
        "dev_ccc": warm,
        "cold_dev_ccc": best_cold,
        "why": why,
    }
