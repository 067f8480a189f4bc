"""Priors: models trained on earlier corpora that a new project starts from.

A prior is a `TrainedBundle` (regressor, confidence, targets, extractor, feature
normalisation) fitted on other corpora's labels. A project that names one

- uses it, before any human rating, for priority and confidence (its self-label
  threshold is 0 there: its confidence was calibrated on another corpus), and
- learns every later model from its own labels together with it, in one of three ways
  (`PRIOR_MODES`), each a scikit-learn estimator around the project's own regressor:

  * "pooled": one regressor fitted on the prior's own clips (each weighing
    `POOLED_WEIGHT` of a project clip) together with the project's;
  * "residual": the regressor learns the project's labels minus the prior's
    predictions (a ridge then shrinks towards the prior rather than towards zero);
  * "stacked": the prior's predictions are extra inputs beside the features.

Whether the prior helps is measured on the project's development speakers at every
retraining (`learner.training.choose_on_dev`, against the cold models): a prior that
does not help there is dropped. The platform tries `PLATFORM_MODES` (pooled only),
chosen by measurement (`python -m bench.prior_modes`, docs/benchmarks.md "Priors"): with
a prior from other speakers of the same corpus, "cold or pooled" was ahead of cold in 29
of 32 target x label-count cells at 20-200 labels on EmoDB and RAVDESS (by up to 0.23
CCC) and behind by at most 0.02 in the other 3, while "cold or residual" lost up to 0.06
from 50 labels on (the residual helps only with 10-20 labels) and stacking scored like a
cold model throughout; adding residual as a third candidate made the choice noisier, not
better. Across corpora (EmoDB <-> RAVDESS) no way helped beyond 20 labels; the choice
mostly dropped the prior, and where the development speakers picked it by chance it cost
up to 0.08 CCC (RAVDESS to EmoDB at 20 labels, EmoDB to RAVDESS at 200). The seed's
transfer learning (D4.2 section 2.3.1) starts models from related data; here the
relation is tested on the project's own labels, never taken for granted.

Across corpora the features' scale differs (microphones, rooms, levels): a prior is
trained on features standardised within each corpus ("corpus") or within each speaker
("speaker"), never on raw features, and the project's clips are scaled the same way.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

from learner.regressors import predict_matrix
from learner.validation import check_features, check_sample_weight, check_targets

PRIOR_MODES = ("residual", "stacked", "pooled")
PLATFORM_MODES = ("pooled",)
# A pooled prior clip weighs this much of one of the project's labelled clips.
POOLED_WEIGHT = 1.0
# A prior's features are scaled within each corpus or each speaker: raw features do not
# carry across recording set-ups.
PRIOR_NORMALISATIONS = ("corpus", "speaker")

Scales = Mapping[str, tuple[float, float]]


class FrozenPrior:
    """A fitted prior regressor, read-only: `predict` gives its predictions of `columns`
    (indices of the prior's targets, in the order the project rates them).

    Deliberately not a scikit-learn estimator (no get_params): `sklearn.base.clone`
    copies it as it is instead of resetting it, so cross-validation and refits around
    it keep the prior fitted."""

    def __init__(
        self,
        model: Any,
        columns: Sequence[int],
        X: NDArray[np.floating[Any]] | None = None,
        y: NDArray[np.floating[Any]] | None = None,
    ) -> None:
        self.model = model
        self.columns = list(columns)
        # The clips it learned from (features, labels of every prior target), for pooling.
        self.X = X
        self.y = y

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        X = np.asarray(X)
        return predict_matrix(self.model, X)[:, self.columns]

    def training_data(self) -> tuple[NDArray[np.floating[Any]], NDArray[np.float64]]:
        """Its own training clips: features and labels of the project's targets."""
        if self.X is None or self.y is None:
            raise ValueError("this prior does not carry its training clips: it cannot be pooled")
        return self.X, np.asarray(self.y, dtype=np.float64)[:, self.columns]


class _WithPrior(RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    def __init__(self, base: Any = None, prior: FrozenPrior | None = None) -> None:
        self.base = base
        self.prior = prior

    def _prior(self, X: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
        if self.prior is None:
            raise ValueError(f"{type(self).__name__} needs a prior")
        return self.prior.predict(X)


class PriorResidual(_WithPrior):
    """`base` fitted on the labels minus the prior's predictions; predicts their sum.

    NaN labels stay missing. Attributes: `base_` (the fitted copy of `base`)."""

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "PriorResidual":
        X = check_features(self, X)
        y = check_targets(y, len(X)).reshape(len(X), -1)
        weight = check_sample_weight(sample_weight, len(X))
        fit_params = {} if weight is None else {"sample_weight": weight}
        self.base_ = clone(self.base).fit(X, y - self._prior(X), **fit_params)
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "base_")
        X = check_features(self, X, reset=False)
        return self._prior(X) + predict_matrix(self.base_, X)


class PriorStacked(_WithPrior):
    """`base` fitted on the features with the prior's predictions as extra columns.

    Attributes: `base_` (the fitted copy of `base`)."""

    def _inputs(self, X: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
        return np.hstack([np.asarray(X, dtype=np.float64), self._prior(X)])

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "PriorStacked":
        X = check_features(self, X)
        y = check_targets(y, len(X)).reshape(len(X), -1)
        weight = check_sample_weight(sample_weight, len(X))
        fit_params = {} if weight is None else {"sample_weight": weight}
        self.base_ = clone(self.base).fit(self._inputs(X), y, **fit_params)
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "base_")
        X = check_features(self, X, reset=False)
        return predict_matrix(self.base_, self._inputs(X))


class PriorPooled(_WithPrior):
    """`base` fitted on the prior's own training clips, each weighing `weight`, together
    with the project's labelled clips (instance-weighted pooled training).

    Attributes: `base_` (the fitted copy of `base`)."""

    def __init__(
        self, base: Any = None, prior: FrozenPrior | None = None, weight: float = POOLED_WEIGHT
    ) -> None:
        super().__init__(base=base, prior=prior)
        self.weight = weight

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "PriorPooled":
        X = check_features(self, X)
        y = check_targets(y, len(X)).reshape(len(X), -1)
        weight = check_sample_weight(sample_weight, len(X))
        if self.prior is None:
            raise ValueError("PriorPooled needs a prior")
        prior_X, prior_y = self.prior.training_data()
        weights = np.r_[
            np.full(len(prior_X), self.weight), np.ones(len(X)) if weight is None else weight
        ]
        self.base_ = clone(self.base).fit(
            np.vstack([prior_X, X]), np.vstack([prior_y, y]), sample_weight=weights
        )
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "base_")
        X = check_features(self, X, reset=False)
        return predict_matrix(self.base_, X)


_MODES: dict[str, type[_WithPrior]] = {
    "residual": PriorResidual,
    "stacked": PriorStacked,
    "pooled": PriorPooled,
}


def with_prior(
    base: Any, prior: FrozenPrior, mode: str, *, weight: float = POOLED_WEIGHT
) -> _WithPrior:
    """`base` (an unfitted regressor) learning together with `prior`, as `mode` says
    (`weight`: of each of the prior's clips, when pooled)."""
    if mode == "pooled":
        return PriorPooled(base=base, prior=prior, weight=weight)
    try:
        return _MODES[mode](base=base, prior=prior)
    except KeyError:
        raise ValueError(f"unknown prior mode {mode!r}; known: {', '.join(PRIOR_MODES)}") from None


def frozen_prior(
    model: Any,
    prior_targets: Sequence[str],
    targets: Sequence[str],
    *,
    X: NDArray[np.floating[Any]] | None = None,
    y: NDArray[np.floating[Any]] | None = None,
) -> FrozenPrior:
    """The prior regressor `model` (predicting `prior_targets`, learned from `X`, `y`
    when given) as a FrozenPrior giving `targets`, in that order. Raises ValueError when
    it lacks one of them."""
    missing = [t for t in targets if t not in prior_targets]
    if missing:
        raise ValueError(f"the prior does not predict {', '.join(missing)}")
    return FrozenPrior(model, [list(prior_targets).index(t) for t in targets], X=X, y=y)


def compatibility_problems(
    *,
    prior_scales: Scales,
    project_scales: Scales,
    prior_extractor: str,
    project_extractor: str,
    prior_normalisation: str,
    project_normalisation: str,
) -> list[str]:
    """Why a prior cannot serve a project, one sentence per reason ([] when it can).

    Targets must be the same set, each on the same scale; the features must come from
    the same extractor (same key: name, parameters, version); and a project whose
    normalisation is fixed must use the prior's ("auto" can use any, and "none" a prior
    normalised per corpus: the project's features are then standardised over its own
    clips, as the prior's were over each of its corpora, with no per-speaker scaling)."""
    problems = []
    prior_names, project_names = set(prior_scales), set(project_scales)
    if prior_names != project_names:
        problems.append(
            f"the prior predicts {_names(prior_names)} but the project rates "
            f"{_names(project_names)}"
        )
    for name in sorted(prior_names & project_names):
        low, high = (float(v) for v in prior_scales[name])
        p_low, p_high = (float(v) for v in project_scales[name])
        if not (np.isclose(low, p_low) and np.isclose(high, p_high)):
            problems.append(
                f"{name}: the prior's scale is [{low:g}, {high:g}], the project's "
                f"[{p_low:g}, {p_high:g}]"
            )
    if prior_extractor != project_extractor:
        problems.append(
            f"the prior's features come from {prior_extractor}, the project's from "
            f"{project_extractor}"
        )
    usable = {"auto", prior_normalisation} | (
        {"none"} if prior_normalisation == "corpus" else set()
    )
    if project_normalisation not in usable:
        problems.append(
            f"the prior needs features normalised per {prior_normalisation}, the project "
            f"fixes them to {project_normalisation!r} (set it to auto)"
        )
    return problems


def _names(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "nothing"


__all__ = [
    "PLATFORM_MODES",
    "POOLED_WEIGHT",
    "PRIOR_MODES",
    "PRIOR_NORMALISATIONS",
    "FrozenPrior",
    "PriorPooled",
    "PriorResidual",
    "PriorStacked",
    "compatibility_problems",
    "frozen_prior",
    "with_prior",
]
