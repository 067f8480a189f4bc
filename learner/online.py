"""A fast ranker for the online loop: re-rank the human queue as each rating arrives.

Heavier models are retrained asynchronously; between retrainings this bootstrap
ensemble of closed-form ridge regressions scores the whole pool in about a second
for 100k clips, and its spread says where the model is least sure.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from learner.ridge import GramRidge, ridge
from learner.standardise import fit_standardiser, standardise
from learner.validation import check_features, check_targets

# Above this many features, with fewer labelled clips than features, `solver="auto"`
# shares one Gram matrix of the labelled clips between the members (`solver="gram"`): with
# ComParE's 6,373 features a member solved on its own repeats an n x n x 6,373 product.
# At or below it (the default extractor's 143 features) each member is solved by
# `learner.ridge.ridge` as it always was, to the bit; 512 is where the confidence
# engines switch to their Gram-matrix PCA too (learner.confidence).
GRAM_MIN_FEATURES = 512
SOLVERS = ("auto", "ridge", "gram")


@dataclass(frozen=True)
class PoolScores:
    """Per clip and target: ensemble mean prediction and spread (std over members)."""

    prediction: NDArray[np.float64]
    spread: NDArray[np.float64]

    def uncertainty(self) -> NDArray[np.float64]:
        """One number per clip: the largest spread over targets."""
        return np.nanmax(self.spread, axis=1) if self.spread.size else np.zeros(0)


class RidgeEnsemble(BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """Bootstrap ensemble of multi-target ridge regressions on standardised features.

    Parameters
    ----------
    n_members : int
        Ensemble size.
    alpha : float
        L2 penalty, in units of the standardised features.
    random_state : int or None
        Seeds the bootstrap samples.
    solver : {"auto", "ridge", "gram"}
        How the members are solved; every solver gives the same members (the same
        bootstrap samples, the same ridge minimisers, to rounding). "ridge": each member by
        `learner.ridge.ridge` on its sample, and the pool standardised, then scored.
        "gram": one Gram matrix of the standardised labelled clips (`learner.ridge.GramRidge`)
        serves every member and target in the dual form, and the pool is scored by one
        matrix product. "auto": "gram" with more than `GRAM_MIN_FEATURES` features and
        fewer labelled clips than features, otherwise "ridge".

    Attributes
    ----------
    mean_, scale_ : (n_features,) the standardisation of the features
    coef_ : (n_members, n_targets, n_features) on the standardised features
    intercept_ : (n_members, n_targets), NaN for a target without labels
    solver_ : the solver used ("ridge" or "gram")
    """

    def __init__(
        self,
        n_members: int = 5,
        alpha: float = 10.0,
        random_state: int | None = 0,
        solver: str = "auto",
    ):
        self.n_members = n_members
        self.alpha = alpha
        self.random_state = random_state
        self.solver = solver

    def fit(self, X: ArrayLike, y: ArrayLike) -> "RidgeEnsemble":
        """Fit on X (n_samples, n_features) and y (n_samples[, n_targets]), NaN = missing."""
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        X = check_features(self, X)
        y = check_targets(y, len(X)).reshape(len(X), -1)
        rng = check_random_state(self.random_state)
        self.mean_, self.scale_ = fit_standardiser(X)
        Z = standardise(X, self.mean_, self.scale_)
        del X
        n_samples, n_features = Z.shape
        self.solver_ = self.solver
        if self.solver == "auto":
            high = n_features > GRAM_MIN_FEATURES and n_samples < n_features
            self.solver_ = "gram" if high else "ridge"
        n_targets = y.shape[1]
        self.intercept_ = np.zeros((self.n_members, n_targets))
        if self.solver_ == "gram":
            gram = GramRidge(Z)
            # Dual weights on the labelled clips: coef_ = weights @ Z, one product for all.
            weights = np.zeros((self.n_members, n_targets, n_samples))
        else:
            self.coef_ = np.zeros((self.n_members, n_targets, n_features))
        for t in range(n_targets):
            rows = np.flatnonzero(~np.isnan(y[:, t]))
            if rows.size == 0:
                self.intercept_[:, t] = np.nan
                continue
            for m in range(self.n_members):
                draw = rng.randint(0, rows.size, rows.size)
                if self.solver_ == "gram":
                    # A row drawn k times weighs k in the objective: a system over the distinct
                    # rows only (about 63 % of them).
                    counts = np.bincount(draw, minlength=rows.size)
                    distinct = rows[counts > 0]
                    weights[m, t, distinct], self.intercept_[m, t] = gram.solve(
                        distinct, counts[counts > 0].astype(np.float64), y[distinct, t], self.alpha
                    )
                else:
                    sample = rows[draw]
                    self.coef_[m, t], self.intercept_[m, t] = ridge(
                        Z[sample], y[sample, t], self.alpha
                    )
        if self.solver_ == "gram":
            self.coef_ = (weights.reshape(-1, n_samples) @ Z).reshape(
                self.n_members, n_targets, n_features
            )
        return self

    def score_pool(self, X: ArrayLike) -> PoolScores:
        """Mean and spread of the members' predictions for each clip and target."""
        check_is_fitted(self, "coef_")
        X = check_features(self, X, reset=False)
        if getattr(self, "solver_", "ridge") == "gram":
            # The scale folded into the coefficients: one (n, d) x (d, members x targets)
            # product on the centred pool instead of a standardised copy and an einsum.
            n_members, n_targets, n_features = self.coef_.shape
            coef = (self.coef_ / self.scale_).reshape(-1, n_features)
            scores = ((X - self.mean_) @ coef.T).reshape(len(X), n_members, n_targets)
            members = scores.transpose(1, 0, 2) + self.intercept_[:, None, :]
        else:
            Z = standardise(X, self.mean_, self.scale_)
            # (members, n, targets)
            members = np.einsum("nd,mtd->mnt", Z, self.coef_) + self.intercept_[:, None, :]
        return PoolScores(prediction=members.mean(axis=0), spread=members.std(axis=0))


def top_uncertain(uncertainty: NDArray[np.float64], budget: int) -> NDArray[np.int64]:
    """Indices of the `budget` most uncertain clips, most uncertain first."""
    budget = min(budget, uncertainty.size)
    if budget <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-uncertainty, budget - 1)[:budget]
    return top[np.argsort(-uncertainty[top], kind="stable")]


def farthest_first(
    candidates: NDArray[np.float64], labelled: NDArray[np.float64], n: int
) -> NDArray[np.int64]:
    """Indices of `n` candidate rows, each the farthest from the labelled rows and those
    already chosen (greedy sampling on the inputs, Wu et al. 2019): a batch that covers
    the feature space the labels do not, rather than piling onto one region."""
    n = min(n, len(candidates))
    if n <= 0:
        return np.array([], dtype=np.int64)
    if len(labelled):
        gap = ((candidates[:, None, :] - labelled[None, :, :]) ** 2).sum(axis=2).min(axis=1)
    else:
        gap = np.full(len(candidates), np.inf)
    chosen = []
    for _ in range(n):
        pick = int(np.argmax(gap))
        chosen.append(pick)
        gap = np.minimum(gap, ((candidates - candidates[pick]) ** 2).sum(axis=1))
        gap[pick] = -1.0
    return np.array(chosen, dtype=np.int64)
