"""The linear baseline: one ridge regression per target, its penalty chosen on dev CCC."""

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state

from learner.metrics import ccc

ALPHAS = tuple(10.0 ** np.arange(-2, 4.5, 0.5))


class LinearRegressor(RegressorMixin, BaseEstimator):
    """Ridge regression per target on standardised features, NaN targets masked out.

    The penalty is chosen per target from `alphas` by CCC on development data: the
    given `X_dev, y_dev`, or else out-of-fold predictions of a K-fold split of the
    training clips (the final model is then refitted on all of them).

    Attributes
    ----------
    mean_, scale_ : feature standardisation
    coef_ : (n_targets, n_features); intercept_ : (n_targets,); alpha_ : (n_targets,)
    """

    def __init__(self, alphas=ALPHAS, random_state: int | None = 0):
        self.alphas = alphas
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, X_dev=None, y_dev=None) -> "LinearRegressor":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.n_targets_ = y.shape[1]
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        Z = (X - self.mean_) / self.scale_
        self.coef_ = np.zeros((self.n_targets_, Z.shape[1]))
        self.intercept_ = np.zeros(self.n_targets_)
        self.alpha_ = np.zeros(self.n_targets_)
        Z_dev = None
        if X_dev is not None:
            Z_dev = (np.asarray(X_dev, dtype=np.float64) - self.mean_) / self.scale_
            y_dev = np.asarray(y_dev, dtype=np.float64).reshape(len(Z_dev), -1)
        for t in range(self.n_targets_):
            rows = np.flatnonzero(~np.isnan(y[:, t]))
            if rows.size == 0:
                self.intercept_[t] = np.nan
                continue
            if Z_dev is not None:
                self.alpha_[t] = self._alpha_on_dev(
                    Z[rows], y[rows, t], w[rows], Z_dev, y_dev[:, t]
                )
            else:
                self.alpha_[t] = self._alpha_by_cv(Z[rows], y[rows, t], w[rows])
            self.coef_[t], self.intercept_[t] = _weighted_ridge(
                Z[rows], y[rows, t], w[rows], self.alpha_[t]
            )
        return self

    def _alpha_on_dev(self, Z, y, w, Z_dev, y_dev) -> float:
        keep = ~np.isnan(y_dev)
        if keep.sum() < 3:
            return float(np.median(self.alphas))
        scores = [
            ccc(y_dev[keep], Z_dev[keep] @ coef + intercept)
            for coef, intercept in (_weighted_ridge(Z, y, w, a) for a in self.alphas)
        ]
        return float(self.alphas[int(np.argmax(scores))])

    def _alpha_by_cv(self, Z, y, w) -> float:
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
                coef, intercept = _weighted_ridge(Z[~held], y[~held], w[~held], alpha)
                oof[held] = Z[held] @ coef + intercept
            score = ccc(y, oof)
            if score > best_score:
                best, best_score = float(alpha), score
        return best

    def predict(self, X) -> NDArray[np.float64]:
        Z = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        return Z @ self.coef_.T + self.intercept_


def _weighted_ridge(Z, y, w, alpha) -> tuple[NDArray, float]:
    w = w / w.mean()
    z_mean = np.average(Z, axis=0, weights=w)
    y_mean = float(np.average(y, weights=w))
    Zc, yc = Z - z_mean, y - y_mean
    Zw = Zc * w[:, None]
    n, d = Zc.shape
    if n < d:
        coef = Zw.T @ np.linalg.solve(Zc @ Zw.T + alpha * np.eye(n), yc)
    else:
        coef = np.linalg.solve(Zc.T @ Zw + alpha * np.eye(d), Zw.T @ yc)
    return coef, y_mean - float(z_mean @ coef)
