"""The strategies: how each spends a round's ratings, given what it has learnt.

`REGISTRY` maps a strategy's name to its function and flags. A function gets the round
(`Turn`) after the model was trained and evaluated, and asks the labeller for ratings
(and sets or revokes machine labels) until the round's budget is spent.

The prior strategies (`PRIOR_STRATEGIES`, with `--prior`) spend as their cold twins do;
the protocol gives them a prior: it picks their seed set (`prior_seed_set`) and competes
with the cold model for every round's model (protocol.choose_view).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from learner.cooperative import Action, choose_self_label_threshold, decide
from learner.online import RidgeEnsemble, farthest_first, top_uncertain
from learner.training import TrainedBundle

if TYPE_CHECKING:
    from bench.label_efficiency.protocol import Labeller


@dataclass(frozen=True)
class Turn:
    """One round's decision: the labeller, the open pool (clip indices) and the budget.

    `bundle` is the platform's round (cooperative strategies only) and `target_error`
    its machine labels' target; `gold` and `layout` (principal components) serve the
    diagnostics only."""

    labeller: "Labeller"
    X: np.ndarray
    open_pool: np.ndarray
    budget: int
    raters: int
    panel: int
    max_raters: int
    rng: np.random.Generator
    seed: int
    selection: str
    bundle: TrainedBundle | None
    target_error: float
    gold: np.ndarray
    layout: np.ndarray | None

    @property
    def n_clips(self) -> int:
        """Clips a fixed-rater strategy sends to people."""
        return max(1, self.budget // self.raters)

    def random_clips(self) -> np.ndarray:
        return self.rng.choice(
            self.open_pool, size=min(self.n_clips, self.open_pool.size), replace=False
        )


@dataclass(frozen=True)
class Strategy:
    act: Callable[[Turn], None]
    # Trains the platform's round (learner.training.train_round) and re-decides its
    # machine labels every round, as the platform revokes those a newer model disagrees on.
    cooperative: bool = False
    # Run only on request: a bound or a comparison, never a result.
    diagnostic: bool = False
    # Starts from a prior (--prior) and keeps it only while it helps on development data.
    prior: bool = False


# ----------------------------------------------------------------------------- spending
def ask_fixed(turn: Turn, clips) -> None:
    """`turn.raters` people rate each clip."""
    for clip in clips:
        turn.labeller.ask(int(clip), turn.raters)


def ask_dynamic_until_spent(turn: Turn, clips) -> None:
    """Dynamic raters for the clips in order (Labeller.ask_dynamic) until the round's
    budget is spent."""
    labeller = turn.labeller
    spent, crowd_noise, noise = labeller.cost, labeller.noise(), labeller.rater_noise()
    for clip in clips:
        if labeller.cost - spent >= turn.budget:
            break
        labeller.ask_dynamic(int(clip), crowd_noise, turn.panel, noise)


def online_scores(turn: Turn):
    """The platform's online ensemble (learner.online.RidgeEnsemble), fitted on the
    human-rated clips' mean ratings, on the open pool."""
    labeller, human = turn.labeller, turn.labeller.human_ids()
    mean_ratings = np.array([np.mean(labeller.ratings[i], axis=0) for i in human])
    ensemble = RidgeEnsemble(random_state=turn.seed).fit(turn.X[human], mean_ratings)
    return ensemble.score_pool(turn.X[turn.open_pool])


# ----------------------------------------------------------------------------- strategies
def random(turn: Turn) -> None:
    """Random clips, a fixed number of raters each."""
    ask_fixed(turn, turn.random_clips())


def uncertainty(turn: Turn) -> None:
    """The clips the online ensemble disagrees on most, fixed raters."""
    scores = online_scores(turn)
    ask_fixed(turn, turn.open_pool[top_uncertain(scores.uncertainty(), turn.n_clips)])


def self_training(turn: Turn) -> None:
    """Random clips for people; the online ensemble's most confident tenth of the open
    pool labelled by the model, for good."""
    scores = online_scores(turn)
    chosen = turn.random_clips()
    confident = np.argsort(scores.uncertainty())[: max(1, turn.open_pool.size // 10)]
    for i in confident:
        if turn.open_pool[i] not in chosen:
            turn.labeller.machine[int(turn.open_pool[i])] = np.clip(scores.prediction[i], -1, 1)
    ask_fixed(turn, chosen)


def random_dynamic(turn: Turn) -> None:
    """Random clips with dynamic raters, no machine labels: what the rater rule alone
    does, without the cooperative choice of clips."""
    ask_dynamic_until_spent(turn, turn.rng.permutation(turn.open_pool))


def random_coverage(turn: Turn) -> None:
    """Diagnostic: the open clips farthest from the rated ones (greedy sampling,
    learner.online.farthest_first), dynamic raters, no machine labels."""
    rated = turn.layout[turn.labeller.human_ids()]
    picks = farthest_first(turn.layout[turn.open_pool], rated, turn.budget)
    ask_dynamic_until_spent(turn, turn.open_pool[picks])


# ----------------------------------------------------------------------------- cooperative
def cooperate(turn: Turn, *, dynamic: bool, oracle: bool = False, coverage: bool = False) -> None:
    """The platform's decisions (learner.cooperative.decide) on the open pool: calibrated
    confidence labels the clips whose expected error is within the round's threshold
    (revoking the machine labels it no longer trusts); people get the least confident,
    `turn.raters` each, or with `dynamic` raters.

    Diagnostics: `oracle` replaces the calibrated confidence by the prediction's real
    error (`oracle_confidence`); `coverage` sends people the unconfident clips farthest
    from those rated instead of the least confident (`coverage_order`)."""
    random_state = int(turn.rng.integers(2**31))
    scores = turn.bundle.predict(turn.X[turn.open_pool])
    prediction = np.clip(scores.values, -1, 1)
    selection = turn.bundle.queue_order if turn.selection == "auto" else turn.selection
    if oracle:
        expected_error, threshold = oracle_confidence(turn, prediction)
        selection = "top" if turn.selection == "auto" else turn.selection  # it ranks errors
    else:
        expected_error, threshold = scores.expected_error, turn.bundle.self_label_threshold
    decisions = decide(
        expected_error=expected_error,
        agreement=scores.agreement,
        self_label_threshold=threshold,
        human_budget=turn.budget if dynamic else turn.n_clips,
        min_raters=1 if dynamic else turn.raters,
        max_raters=turn.max_raters,
        selection=selection,
        random_state=random_state,
    )
    for clip, decision, value in zip(turn.open_pool, decisions, prediction, strict=True):
        if decision.action == Action.SELF_LABEL:
            turn.labeller.machine[int(clip)] = value
        else:
            turn.labeller.machine.pop(int(clip), None)  # no longer confident: revoked
    order = coverage_order(turn, decisions) if coverage else priority_order(decisions)
    if dynamic:
        ask_dynamic_until_spent(turn, turn.open_pool[order])
        return
    spent = turn.labeller.cost
    for i in order:
        if turn.labeller.cost - spent >= turn.budget:
            break
        turn.labeller.ask(int(turn.open_pool[i]), decisions[i].n_raters)


def prior_seed_set(bundle: TrainedBundle, X: np.ndarray, pool: np.ndarray, n: int, raters: int):
    """A cooperative strategy's first clips for people before any label: the prior's
    zero-shot bundle scores the pool, and the `n` least confident clips go to people
    (learner.cooperative.decide; the prior's threshold is 0, so it labels none)."""
    scores = bundle.predict(X[pool])
    decisions = decide(
        expected_error=scores.expected_error,
        agreement=scores.agreement,
        self_label_threshold=bundle.self_label_threshold,
        human_budget=n,
        min_raters=raters,
        max_raters=raters,
    )
    return pool[priority_order(decisions)[:n]]


def priority_order(decisions) -> list[int]:
    """The clips sent to people, highest priority (least confident) first."""
    return sorted(
        (i for i, d in enumerate(decisions) if d.action == Action.ASK_HUMANS),
        key=lambda i: -decisions[i].priority,
    )


def coverage_order(turn: Turn, decisions) -> list[int]:
    """The clips not self-labelled, farthest from the rated ones first (farthest_first)."""
    unconfident = np.array([i for i, d in enumerate(decisions) if d.action != Action.SELF_LABEL])
    if not unconfident.size:
        return []
    rated = turn.layout[turn.labeller.human_ids()]
    picks = farthest_first(turn.layout[turn.open_pool[unconfident]], rated, turn.budget)
    return [int(unconfident[j]) for j in picks]


def oracle_confidence(turn: Turn, prediction: np.ndarray) -> tuple[np.ndarray, float]:
    """A perfect confidence: the prediction's real error against gold, and the platform's
    rule for the threshold (the largest whose self-labelled clips meet the target on
    average)."""
    real_error = np.abs(prediction - turn.gold[turn.open_pool])
    worst = np.nanmax(real_error, axis=1)
    threshold = choose_self_label_threshold(
        expected_error=worst, real_error=worst, target_error=turn.target_error
    )
    return real_error, threshold


def cooperative(turn: Turn) -> None:
    """The platform's round: machine labels where confident, fixed raters for the least
    confident."""
    cooperate(turn, dynamic=False)


def cooperative_dynamic(turn: Turn) -> None:
    """As cooperative, but a clip starts with one rater and gets more while its label is
    less certain than a fixed panel's (learner.raters, as the platform)."""
    cooperate(turn, dynamic=True)


def cooperative_oracle(turn: Turn) -> None:
    """Diagnostic: cooperative_dynamic with a perfect confidence (the model's real error
    against gold), an upper bound on what better confidence could buy."""
    cooperate(turn, dynamic=True, oracle=True)


def cooperative_coverage(turn: Turn) -> None:
    """Diagnostic: cooperative_dynamic sending people the unconfident clips farthest from
    the rated ones instead of the least confident."""
    cooperate(turn, dynamic=True, coverage=True)


# Default strategies first, then those with a prior, then the diagnostics; the order of
# the tables and curves.
REGISTRY: dict[str, Strategy] = {
    "random": Strategy(random),
    "uncertainty": Strategy(uncertainty),
    "self_training": Strategy(self_training),
    "cooperative": Strategy(cooperative, cooperative=True),
    "cooperative_dynamic": Strategy(cooperative_dynamic, cooperative=True),
    "random_dynamic": Strategy(random_dynamic),
    # The random rule on the prior's predictions is the random rule: random_prior's seed
    # set is random's, and only its models differ.
    "random_prior": Strategy(random, prior=True),
    "cooperative_prior": Strategy(cooperative, cooperative=True, prior=True),
    "cooperative_dynamic_prior": Strategy(cooperative_dynamic, cooperative=True, prior=True),
    "cooperative_oracle": Strategy(cooperative_oracle, cooperative=True, diagnostic=True),
    "cooperative_coverage": Strategy(cooperative_coverage, cooperative=True, diagnostic=True),
    "random_coverage": Strategy(random_coverage, diagnostic=True),
}
STRATEGIES = tuple(
    name for name, entry in REGISTRY.items() if not entry.diagnostic and not entry.prior
)
PRIOR_STRATEGIES = tuple(name for name, entry in REGISTRY.items() if entry.prior)
DIAGNOSTICS = tuple(name for name, entry in REGISTRY.items() if entry.diagnostic)
# A prior strategy's cold twin: the same spending without a prior.
COLD_TWIN = {name: name.removesuffix("_prior") for name in PRIOR_STRATEGIES}
