"""The cooperative policy (METHOD sections 3-4) as pure functions from numbers to decisions."""

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from learner.online import GRAM_MIN_FEATURES, RidgeEnsemble, top_uncertain


class Action(enum.StrEnum):
    SELF_LABEL = "self_label"
    ASK_HUMANS = "ask_humans"
    DEFER = "defer"


class QueueOrder(enum.StrEnum):
    """How clips not self-labelled are ordered for people: by the confidence's expected
    error (`decide`'s "top"), or at random while the confidence does not rank errors."""

    UNCERTAINTY = "top"
    RANDOM = "random"


# A one-sided test at 5 %: the confidence ranks errors better than chance.
QUEUE_ORDER_Z = 1.645


def choose_queue_order(ranks: Sequence[float | None], n_clips: int) -> QueueOrder:
    """The queue's order from how well the confidence ranked the real errors of `n_clips`
    development clips it was not calibrated on (`ranks`: Spearman's correlation per
    target, None where unmeasured; learner.training.confidence_rank_on_held_out_speakers).

    The uncertain clips first only when their mean correlation is above chance:
    z = rho * sqrt(n - 2) > QUEUE_ORDER_Z (the mean of two halves' correlations has a
    variance near 1 / (n - 2) under no correlation). A confidence that does not rank
    errors still ranks something, mostly how far a clip lies from the labelled ones, and
    sending people those outliers first teaches the model less than a uniform draw: on
    natural-speech views the first rounds chosen by an unranked confidence reached about
    half of random sampling's CCC (docs/benchmarks.md, "A queue in random order until the
    confidence ranks errors").
    """
    measured = [float(r) for r in ranks if r is not None and np.isfinite(r)]
    if not measured or n_clips < 3:
        return QueueOrder.RANDOM
    z = float(np.mean(measured)) * np.sqrt(n_clips - 2)
    return QueueOrder.UNCERTAINTY if z > QUEUE_ORDER_Z else QueueOrder.RANDOM


def uniform_by_id(ids: ArrayLike, seed: int) -> NDArray[np.float64]:
    """A number in [0, 1) per integer id, the same for the same (id, seed) wherever the id
    sits (the splitmix64 finaliser): a random order of clips that a new pool does not
    reshuffle."""
    with np.errstate(over="ignore"):
        z = np.asarray(ids, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


@dataclass(frozen=True)
class Decision:
    action: Action
    priority: float = 0.0
    n_raters: int = 0


MAE_PER_SD = float(np.sqrt(2 / np.pi))  # E|e| / sd(e) for normal errors
# A live machine label is kept while the clip's expected error stays within this fraction
# above the self-label threshold (scoring_plan).
MACHINE_LABEL_KEEP_MARGIN = 0.25


def denoised_mae(
    abs_error: ArrayLike, label_error: ArrayLike | None = None, axis: int | None = 0
) -> NDArray[np.float64]:
    """The mean absolute error against the truth of predictions whose errors `abs_error`
    were measured against labels that are themselves uncertain (`label_error`: each
    label's standard error, NaN or None: exact), NaN ignored, along `axis`.

    A label of standard error se adds its own error to every measured one: for
    independent normal errors the measured mean squared error is the model's plus the
    mean se**2. The measured mean absolute error is scaled by the share of the mean
    squared error that is the model's, sqrt(1 - mean(se**2) / mean(e**2)), so exact
    labels (se = 0) give the plain mean absolute error.
    """
    error = np.asarray(abs_error, dtype=np.float64)
    se = np.zeros_like(error) if label_error is None else np.asarray(label_error, np.float64)
    se = np.where(np.isnan(error), np.nan, np.nan_to_num(np.broadcast_to(se, error.shape)))
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = np.nanmean(error, axis=axis)
        share = 1.0 - np.nanmean(se**2, axis=axis) / np.nanmean(error**2, axis=axis)
        result: NDArray[np.float64] = mae * np.sqrt(np.clip(np.nan_to_num(share, nan=1.0), 0, 1))
    return result


def choose_self_label_threshold(
    *,
    expected_error: ArrayLike,
    real_error: ArrayLike,
    target_error: ArrayLike,
    min_clips: int = 3,
    max_threshold: float = np.inf,
    label_error: ArrayLike | None = None,
) -> float:
    """The largest expected-error threshold whose self-labelled validation clips meet the
    target, as automated labelling picks its threshold on validation data.

    Clips are self-labelled where `expected_error` (per clip, or per clip and target:
    its worst target counts) is at most the threshold. `real_error` is their measured
    absolute error, per clip or per clip and target, and `target_error` the bar: one
    number, one per target, or one per clip and target. A threshold qualifies when at
    least `min_clips` clips are self-labelled and, on every target, their mean absolute
    error is at most the mean bar of the same clips; the error is measured against labels
    of standard error `label_error` (per clip and target, None: exact), whose own noise
    is taken out (`denoised_mae`). Clips with the same expected error are all in or all
    out, as they will be when scoring, and the threshold is never above
    `max_threshold`. Returns 0.0 (self-label nothing) when no threshold qualifies.
    """
    expected = np.asarray(expected_error, dtype=np.float64)
    if expected.ndim == 2:
        expected = np.nanmax(expected, axis=1)
    real = np.asarray(real_error, dtype=np.float64)
    if real.ndim == 1:
        real = real[:, None]
    bar = np.broadcast_to(np.asarray(target_error, dtype=np.float64), real.shape)
    se = (
        np.zeros(real.shape)
        if label_error is None
        else np.broadcast_to(np.asarray(label_error, dtype=np.float64), real.shape)
    )
    keep = ~np.isnan(expected) & ~np.all(np.isnan(real), axis=1)
    order = np.argsort(expected[keep], kind="stable")
    expected, real = expected[keep][order], real[keep][order]
    bar, se = bar[keep][order], np.nan_to_num(se[keep][order])
    if expected.size == 0:
        return 0.0
    known = ~np.isnan(real)
    # Running sums over the clips sorted by expected error, per target.
    count = np.cumsum(known, axis=0)
    abs_sum = np.cumsum(np.where(known, real, 0.0), axis=0)
    sq_sum = np.cumsum(np.where(known, real**2, 0.0), axis=0)
    se_sum = np.cumsum(np.where(known, se**2, 0.0), axis=0)
    bar_sum = np.cumsum(np.where(known, bar, 0.0), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip(np.nan_to_num(1.0 - se_sum / sq_sum, nan=1.0), 0.0, 1.0)
        error = abs_sum / count * np.sqrt(share)
        meets = np.where(count > 0, error <= bar_sum / count + 1e-12, True).all(axis=1)
    n = np.arange(1, expected.size + 1)
    # A cut between two clips with the same expected error cannot be made.
    group_end = np.append(expected[1:] > expected[:-1], True)
    ok = np.flatnonzero(meets & (n >= min_clips) & group_end & (expected <= max_threshold))
    if ok.size == 0:
        return 0.0
    return float(expected[ok[-1]])


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
    keep: ArrayLike | None = None,
    random_priority: ArrayLike | None = None,
) -> list[Decision]:
    """Per clip: self-label, ask humans (priority, raters to start with), or defer.

    - confident on every target (expected error <= threshold), or a clip whose machine
      label is kept (`keep`, boolean per clip): self-label;
    - otherwise the `human_budget` most informative clips go to humans, most uncertain
      first; priority is the worst expected error, raised by predicted disagreement and
      novelty (both in [0, 1]);
    - the rest wait for a later round.

    `selection="top"` sends the highest priorities; `"proportional"` draws the batch
    without replacement with probability proportional to priority (stochastic batch
    acquisition, Kirsch et al. 2023): still mostly uncertain clips, but a batch that
    also covers the rest of the pool instead of piling onto its outliers; `"random"`
    (QueueOrder.RANDOM: a confidence that does not rank errors) gives every clip a
    random priority, `random_priority` (in [0, 1), per clip: the same clip keeps its
    place from one pass to the next, `uniform_by_id`) or drawn with `random_state`, so
    people get a uniform draw of the clips not self-labelled.
    """
    expected = np.atleast_2d(np.asarray(expected_error, dtype=np.float64))
    n = expected.shape[0]
    worst = np.nanmax(expected, axis=1)
    agree = np.full(n, np.nan) if agreement is None else np.asarray(agreement, dtype=np.float64)
    new = np.zeros(n) if novelty is None else np.asarray(novelty, dtype=np.float64)
    priority = worst * (1.0 + 0.5 * np.nan_to_num(1.0 - agree, nan=0.0)) * (1.0 + 0.5 * new)
    if selection == QueueOrder.RANDOM:
        priority = (
            np.random.default_rng(random_state).random(n)
            if random_priority is None
            else np.asarray(random_priority, dtype=np.float64)
        )
    confident = worst <= self_label_threshold
    if keep is not None:
        confident |= np.asarray(keep, dtype=bool)
    candidates = np.flatnonzero(~confident)
    take = min(max(0, human_budget), candidates.size)
    if selection in ("top", QueueOrder.RANDOM):
        ranked = candidates[np.argsort(-priority[candidates], kind="stable")]
        to_humans = set(ranked[:take].tolist())
    elif selection == "proportional":
        weights = np.nan_to_num(priority[candidates], nan=0.0) + 1e-9
        rng = np.random.default_rng(random_state)
        drawn = rng.choice(candidates, size=take, replace=False, p=weights / weights.sum())
        to_humans = set(drawn.tolist())
    else:
        raise ValueError(f"selection must be 'top', 'proportional' or 'random', not {selection!r}")
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
    keep_margin: float = MACHINE_LABEL_KEEP_MARGIN,
    order: QueueOrder = QueueOrder.UNCERTAINTY,
    random_priority: ArrayLike | None = None,
) -> ScoringPlan:
    """A scoring pass over clips nobody has rated (METHOD section 3): `decide`, then,
    per clip and target, keep a live machine label (`live_machine_labels`, NaN where
    none) while the clip stays self-labelled and the new prediction is within
    `revoke_tolerance` of it; otherwise revoke it, and label self-labelled clips anew.

    A clip with live machine labels that no new prediction contradicts stays
    self-labelled while its expected error is within `keep_margin` (a fraction) above
    the threshold: labelling needs the threshold, keeping a label the margin too, so a
    clip near the threshold is not labelled and revoked by successive models in turn.
    `order` and `random_priority`: the human queue's order (`decide`'s selection)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    values = np.clip(values, scale_min, scale_max)
    live = np.asarray(live_machine_labels, dtype=np.float64).reshape(values.shape)
    has_live = np.isfinite(live)
    with np.errstate(invalid="ignore"):
        disagrees = has_live & (np.abs(live - values) > revoke_tolerance)
    expected = np.atleast_2d(np.asarray(expected_error, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        within_margin = np.nanmax(expected, axis=1) <= self_label_threshold * (1.0 + keep_margin)
    decisions = decide(
        expected_error=expected,
        agreement=agreement,
        self_label_threshold=self_label_threshold,
        human_budget=human_budget,
        min_raters=min_raters,
        max_raters=max_raters,
        keep=has_live.any(axis=1) & ~disagrees.any(axis=1) & within_margin,
        selection=order,
        random_priority=random_priority,
    )
    self_label = np.array([d.action == Action.SELF_LABEL for d in decisions], dtype=bool)
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
    solver: str = "auto",
) -> QueuePlan:
    """Between retrainings: a bootstrap ridge ensemble (learner.online.RidgeEnsemble) fitted
    on the human labels scores the open pool, and the `budget` clips it is least sure
    about go to humans (learner.online.top_uncertain). `solver` is the ensemble's: every
    solver gives the same members; "auto" picks the cheaper for the features' size.

    Above GRAM_MIN_FEATURES features it learns from fewer labelled clips than features, a
    random subset: more would take the members' full d x d solves (ten of 6,373 x 6,373
    per call with ComParE), and a ranking of the pool needs no more.
    """
    X_labelled, y_labelled = np.asarray(X_labelled), np.asarray(y_labelled)
    n, d = X_labelled.shape[0], X_labelled.shape[-1]
    if d > GRAM_MIN_FEATURES and n >= d:
        rows = np.sort(np.random.default_rng(random_state).choice(n, size=d - 1, replace=False))
        X_labelled, y_labelled = X_labelled[rows], y_labelled[rows]
    ensemble = RidgeEnsemble(n_members=n_members, random_state=random_state, solver=solver)
    fitted = ensemble.fit(X_labelled, y_labelled)
    uncertainty = fitted.score_pool(np.asarray(X_open)).uncertainty()
    return QueuePlan(queued=top_uncertain(uncertainty, budget), uncertainty=uncertainty)
