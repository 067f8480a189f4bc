"""The cooperative policy (METHOD sections 3-4) as pure functions from numbers to decisions."""

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from learner.online import RidgeEnsemble, top_uncertain


class Action(enum.StrEnum):
    SELF_LABEL = "self_label"
    ASK_HUMANS = "ask_humans"
    DEFER = "defer"


@dataclass(frozen=True)
class Decision:
    action: Action
    priority: float = 0.0
    n_raters: int = 0


def choose_self_label_threshold(
    *, expected_error: ArrayLike, real_error: ArrayLike, target_error: float, min_clips: int = 3
) -> float:
    """The largest expected-error threshold whose self-labelled validation clips meet the target.

    Clips are self-labelled where `expected_error <= threshold`; the threshold is the
    largest one at which the mean real error of those clips is at most `target_error`
    (and at least `min_clips` qualify), as automated labelling picks its threshold on
    validation data. Returns 0.0 (self-label nothing) when no threshold meets it.
    """
    expected = np.asarray(expected_error, dtype=np.float64)
    real = np.asarray(real_error, dtype=np.float64)
    keep = ~(np.isnan(expected) | np.isnan(real))
    expected, real = expected[keep], real[keep]
    order = np.argsort(expected, kind="stable")
    running_mean = np.cumsum(real[order]) / np.arange(1, order.size + 1)
    ok = np.flatnonzero(
        (running_mean <= target_error) & (np.arange(1, order.size + 1) >= min_clips)
    )
    if ok.size == 0:
        return 0.0
    return float(expected[order][ok[-1]])


def raters_to_start(agreement: float, *, min_raters: int, max_raters: int) -> int:
    """Fewer raters for clips people are predicted to agree on, more for ambiguous ones."""
    if np.isnan(agreement):
        return min_raters
    if agreement < 0.5:
        return min(max_raters, min_raters + 1)
    return min_raters


def decide(
    *,
    expected_error: ArrayLike,
    agreement: ArrayLike | None,
    self_label_threshold: float,
    human_budget: int,
    min_raters: int,
    max_raters: int,
    novelty: ArrayLike | None = None,
    selection: str = "top",
    random_state: int | None = None,
) -> list[Decision]:
    """Per clip: self-label, ask humans (priority, raters to start with), or defer.

    - confident on every target (expected error <= threshold): self-label;
    - otherwise the `human_budget` most informative clips go to humans, most uncertain
      first; priority is the worst expected error, raised by predicted disagreement and
      novelty (both in [0, 1]);
    - the rest wait for a later round.

    `selection="top"` sends the highest priorities; `"proportional"` draws the batch
    without replacement with probability proportional to priority (stochastic batch
    acquisition, Kirsch et al. 2023): still mostly uncertain clips, but a batch that
    also covers the rest of the pool instead of piling onto its outliers.
    """
    expected = np.atleast_2d(np.asarray(expected_error, dtype=np.float64))
    n = expected.shape[0]
    worst = np.nanmax(expected, axis=1)
    agree = np.full(n, np.nan) if agreement is None else np.asarray(agreement, dtype=np.float64)
    new = np.zeros(n) if novelty is None else np.asarray(novelty, dtype=np.float64)
    priority = worst * (1.0 + 0.5 * np.nan_to_num(1.0 - agree, nan=0.0)) * (1.0 + 0.5 * new)
    confident = worst <= self_label_threshold
    candidates = np.flatnonzero(~confident)
    take = min(max(0, human_budget), candidates.size)
    if selection == "top":
        ranked = candidates[np.argsort(-priority[candidates], kind="stable")]
        to_humans = set(ranked[:take].tolist())
    elif selection == "proportional":
        weights = np.nan_to_num(priority[candidates], nan=0.0) + 1e-9
        rng = np.random.default_rng(random_state)
        drawn = rng.choice(candidates, size=take, replace=False, p=weights / weights.sum())
        to_humans = set(drawn.tolist())
    else:
        raise ValueError(f"selection must be 'top' or 'proportional', not {selection!r}")
    decisions = []
    for i in range(n):
        if confident[i]:
            decisions.append(Decision(Action.SELF_LABEL))
        elif i in to_humans:
            decisions.append(
                Decision(
                    Action.ASK_HUMANS,
                    float(priority[i]),
                    raters_to_start(agree[i], min_raters=min_raters, max_raters=max_raters),
                )
            )
        else:
            decisions.append(Decision(Action.DEFER, float(priority[i])))
    return decisions


@dataclass(frozen=True)
class ScoringPlan:
    """What a scoring pass does to n clips and t targets.

    `decisions` per clip (`decide`); `values` the predictions clipped to the scales;
    `revoke` the live machine labels to take back, `disagrees` where that is because the
    new prediction is too far from them (else: the model is no longer confident);
    `label` where a new machine label is written (self-labelled clips without a live
    label that still holds).
    """

    decisions: list[Decision]
    values: NDArray[np.float64]
    revoke: NDArray[np.bool_]
    disagrees: NDArray[np.bool_]
    label: NDArray[np.bool_]


def scoring_plan(
    *,
    values: ArrayLike,
    expected_error: ArrayLike,
    agreement: ArrayLike | None,
    live_machine_labels: ArrayLike,
    self_label_threshold: float,
    revoke_tolerance: float,
    human_budget: int,
    min_raters: int,
    max_raters: int,
    scale_min: ArrayLike = -1.0,
    scale_max: ArrayLike = 1.0,
) -> ScoringPlan:
    """A scoring pass over clips nobody has rated (METHOD section 3): `decide`, then,
    per clip and target, keep a live machine label (`live_machine_labels`, NaN where
    none) while the clip stays self-labelled and the new prediction is within
    `revoke_tolerance` of it; otherwise revoke it, and label self-labelled clips anew."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    values = np.clip(values, scale_min, scale_max)
    live = np.asarray(live_machine_labels, dtype=np.float64).reshape(values.shape)
    decisions = decide(
        expected_error=expected_error,
        agreement=agreement,
        self_label_threshold=self_label_threshold,
        human_budget=human_budget,
        min_raters=min_raters,
        max_raters=max_raters,
    )
    self_label = np.array([d.action == Action.SELF_LABEL for d in decisions], dtype=bool)
    has_live = np.isfinite(live)
    with np.errstate(invalid="ignore"):
        disagrees = has_live & (np.abs(live - values) > revoke_tolerance)
    revoke = disagrees | (has_live & ~self_label[:, None])
    label = self_label[:, None] & (~has_live | revoke)
    return ScoringPlan(decisions, values, revoke, disagrees, label)


@dataclass(frozen=True)
class QueuePlan:
    """The open clips to queue for humans (`queued`, indices, most uncertain first) and
    every open clip's uncertainty, which is its priority."""

    queued: NDArray[np.int64]
    uncertainty: NDArray[np.float64]


def online_queue(
    X_labelled: ArrayLike,
    y_labelled: ArrayLike,
    X_open: ArrayLike,
    *,
    budget: int,
    n_members: int = 5,
    random_state: int | None = 0,
) -> QueuePlan:
    """Between retrainings: a bootstrap ridge ensemble (learner.online.RidgeEnsemble) fitted
    on the human labels scores the open pool, and the `budget` clips it is least sure
    about go to humans (learner.online.top_uncertain)."""
    ensemble = RidgeEnsemble(n_members=n_members, random_state=random_state)
    fitted = ensemble.fit(np.asarray(X_labelled), np.asarray(y_labelled))
    uncertainty = fitted.score_pool(np.asarray(X_open)).uncertainty()
    return QueuePlan(queued=top_uncertain(uncertainty, budget), uncertainty=uncertainty)
