"""The linear baseline: one ridge regression per target, its penalty chosen on dev CCC."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from learner.metrics import ccc
from learner.ridge import ridge
from learner.standardise import fit_standardiser, standardise
from learner.validation import check_features, check_sample_weight, check_targets

ALPHAS = tuple(10.0 ** np.arange(-2, 4.5, 0.5))


class LinearRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """Ridge regression per target on standardised features, NaN targets masked out.

    The penalty is chosen per target from `alphas` by CCC on development data: the
    given `X_dev, y_dev`, or else out-of-fold predictions of a K-fold split of the
    training clips (the final model is then refitted on all of them).

    Attributes
    ----------
    n_features_in_ : number of features
    mean_, scale_ : feature standardisation
    coef_ : (n_targets, n_features); intercept_ : (n_targets,); alpha_ : (n_targets,)
    """

    def __init__(self, alphas: Sequence[float] = ALPHAS, random_state: int | None = 0) -> None:
        self.alphas = alphas
        self.random_state = random_state

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        X_dev: ArrayLike | None = None,
        y_dev: ArrayLike | None = None,
    ) -> "LinearRegressor":
        """Fit on X (n_samples, n_features) and y (n_samples[, n_targets]), NaN = missing;
        the penalty is chosen on `X_dev, y_dev` when given."""
        X = check_features(self, X)
        y = check_targets(y, len(X))
        self._y_1d = y.ndim == 1
        y = y.reshape(len(X), -1)
        w = check_sample_weight(sample_weight, len(X))
        w = np.ones(len(X)) if w is None else w
        self.n_targets_ = y.shape[1]
        self.mean_, self.scale_ = fit_standardiser(X)
        Z = standardise(X, self.mean_, self.scale_)
        self.coef_ = np.zeros((self.n_targets_, Z.shape[1]))
        self.intercept_ = np.zeros(self.n_targets_)
        self.alpha_ = np.zeros(self.n_targets_)
        dev = None
        if X_dev is not None:
            Z_dev = standardise(check_features(self, X_dev, reset=False), self.mean_, self.scale_)
            y_dev_2d = check_targets(y_dev, len(Z_dev)).reshape(len(Z_dev), -1)
            if y_dev_2d.shape[1] != self.n_targets_:
                raise ValueError(f"y_dev has {y_dev_2d.shape[1]} targets, y {self.n_targets_}")
            dev = Z_dev, y_dev_2d
        for t in range(self.n_targets_):
            rows = np.flatnonzero(~np.isnan(y[:, t]))
            if rows.size == 0:
                self.intercept_[t] = np.nan
                continue
            if dev is not None:
                self.alpha_[t] = self._alpha_on_dev(
                    Z[rows], y[rows, t], w[rows], dev[0], dev[1][:, t]
                )
            else:
                self.alpha_[t] = self._alpha_by_cv(Z[rows], y[rows, t], w[rows])
            self.coef_[t], self.intercept_[t] = ridge(Z[rows], y[rows, t], self.alpha_[t], w[rows])
        return self

    def _alpha_on_dev(
        self,
        Z: NDArray[np.float64],
        y: NDArray[np.float64],
        w: NDArray[np.float64],
        Z_dev: NDArray[np.float64],
        y_dev: NDArray[np.float64],
    ) -> float:
        keep = ~np.isnan(y_dev)
        if keep.sum() < 3:
            return float(np.median(self.alphas))
        scores = [
            ccc(y_dev[keep], Z_dev[keep] @ coef + intercept)
            for coef, intercept in (ridge(Z, y, a, w) for a in self.alphas)
        ]
        return float(self.alphas[int(np.argmax(scores))])

    def _alpha_by_cv(
        self, Z: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
    ) -> float:
        """The penalty with the best CCC of out-of-fold predictions (K-fold, K <= 5)."""
        n_folds = min(5, len(y) // 4)
        if n_folds < 2:
            return float(np.median(self.alphas))
        folds = check_random_state(self.random_state).permutation(len(y)) % n_folds
        best, best_score = float(np.median(self.alphas)), -np.inf
        for alpha in self.alphas:
            oof = np.empty(len(y))
            for k in range(n_folds):
                held = folds == k
                coef, intercept = ridge(Z[~held], y[~held], alpha, w[~held])
                oof[held] = Z[held] @ coef + intercept
            score = ccc(y, oof)
            if score > best_score:
                best, best_score = float(alpha), score
        return best

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """(n_samples, n_targets) predictions; (n_samples,) if fitted on a 1-d y."""
        check_is_fitted(self, "coef_")
        Z = standardise(check_features(self, X, reset=False), self.mean_, self.scale_)
        pred: NDArray[np.float64] = Z @ self.coef_.T + self.intercept_
        return pred[:, 0] if getattr(self, "_y_1d", False) else pred  # older pickles: 2-d
