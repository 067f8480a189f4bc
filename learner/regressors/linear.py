"""The linear baseline: one ridge regression per target, its penalty chosen on dev CCC."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from learner.metrics import ccc
from learner.ridge import RidgePath, principal_axes
from learner.standardise import fit_standardiser, standardise, standardised_linear_map
from learner.validation import check_features, check_sample_weight, check_targets

ALPHAS = tuple(10.0 ** np.arange(-2, 4.5, 0.5))


def _best(alphas: NDArray[np.float64], scores: list[float]) -> float:
    """The penalty of the best score (the first of equals; NaN scores never win); the
    middle of the grid when no score is a number."""
    finite = np.where(np.isnan(scores), -np.inf, scores)
    if not np.isfinite(finite).any():
        return float(np.median(alphas))
    return float(alphas[int(np.argmax(finite))])


class LinearRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """Ridge regression per target on standardised features, NaN targets masked out.

    The penalty is chosen per target from `alphas` by CCC on development data: the
    given `X_dev, y_dev`, or else out-of-fold predictions of a K-fold split of the
    training clips (the final model is then refitted on all of them). Every penalty of a
    fold comes from one SVD of its training clips (`learner.ridge.RidgePath`), shared by
    the targets labelled on the same clips.

    max_rank : None (exact ridge), or a rank: with more clips and more features than
        that, the features are first projected on their `max_rank` leading principal
        axes (`learner.ridge.principal_axes`, from the training clips' features only, no
        label), and the ridge is exact within that subspace; the coefficients are mapped
        back, so `coef_` and `predict` are those of an ordinary linear model. With at
        most `max_rank` clips or features it is the exact ridge.

    Attributes
    ----------
    n_features_in_ : number of features
    mean_, scale_ : feature standardisation
    coef_ : (n_targets, n_features); intercept_ : (n_targets,); alpha_ : (n_targets,)
    rank_ : the rank the ridge was solved in (min(n_samples, n_features) when exact)
    """

    def __init__(
        self,
        alphas: Sequence[float] = ALPHAS,
        random_state: int | None = 0,
        max_rank: int | None = None,
    ) -> None:
        self.alphas = alphas
        self.random_state = random_state
        self.max_rank = max_rank

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
        del X
        axes = None
        if self.max_rank is not None and min(Z.shape) > self.max_rank:
            axes = principal_axes(Z, self.max_rank, random_state=self.random_state)
            Z = Z @ axes
        self.rank_ = min(Z.shape)
        coef = np.zeros((self.n_targets_, Z.shape[1]))
        self.intercept_ = np.zeros(self.n_targets_)
        self.alpha_ = np.zeros(self.n_targets_)
        dev = None
        if X_dev is not None:
            Z_dev = standardise(check_features(self, X_dev, reset=False), self.mean_, self.scale_)
            y_dev_2d = check_targets(y_dev, len(Z_dev)).reshape(len(Z_dev), -1)
            if y_dev_2d.shape[1] != self.n_targets_:
                raise ValueError(f"y_dev has {y_dev_2d.shape[1]} targets, y {self.n_targets_}")
            dev = (Z_dev if axes is None else Z_dev @ axes), y_dev_2d
        alphas = np.asarray(self.alphas, dtype=np.float64)
        # Targets labelled on the same clips share every decomposition.
        labelled = ~np.isnan(y)
        groups: dict[bytes, list[int]] = {}
        for t in range(self.n_targets_):
            groups.setdefault(np.packbits(labelled[:, t]).tobytes(), []).append(t)
        for targets in groups.values():
            rows = np.flatnonzero(labelled[:, targets[0]])
            if rows.size == 0:
                self.intercept_[targets] = np.nan
                continue
            Zr, yr, wr = Z[rows], y[rows][:, targets], w[rows]
            if dev is not None:
                chosen = self._alphas_on_dev(Zr, yr, wr, dev[0], dev[1][:, targets], alphas)
            else:
                chosen = self._alphas_by_cv(Zr, yr, wr, alphas)
            path = RidgePath(Zr, wr)
            for k, t in enumerate(targets):
                self.alpha_[t] = chosen[k]
                c, b = path.solve(yr[:, k], [chosen[k]])
                coef[t], self.intercept_[t] = c[0], b[0]
        self.coef_ = coef if axes is None else coef @ axes.T
        return self

    def _alphas_on_dev(
        self,
        Z: NDArray[np.float64],
        y: NDArray[np.float64],
        w: NDArray[np.float64],
        Z_dev: NDArray[np.float64],
        y_dev: NDArray[np.float64],
        alphas: NDArray[np.float64],
    ) -> list[float]:
        path = RidgePath(Z, w)
        chosen = []
        for k in range(y.shape[1]):
            keep = ~np.isnan(y_dev[:, k])
            if keep.sum() < 3:
                chosen.append(float(np.median(alphas)))
                continue
            coefs, intercepts = path.solve(y[:, k], alphas)
            pred = Z_dev[keep] @ coefs.T + intercepts
            chosen.append(
                _best(alphas, [ccc(y_dev[keep, k], pred[:, a]) for a in range(len(alphas))])
            )
        return chosen

    def _alphas_by_cv(
        self,
        Z: NDArray[np.float64],
        y: NDArray[np.float64],
        w: NDArray[np.float64],
        alphas: NDArray[np.float64],
    ) -> list[float]:
        """Per target (column of y), the penalty with the best CCC of out-of-fold
        predictions (K-fold, K <= 5; the first of equals)."""
        n_folds = min(5, len(Z) // 4)
        if n_folds < 2:
            return [float(np.median(alphas))] * y.shape[1]
        folds = check_random_state(self.random_state).permutation(len(Z)) % n_folds
        oof = np.empty((y.shape[1], len(Z), len(alphas)))
        for fold in range(n_folds):
            held = folds == fold
            path = RidgePath(Z[~held], w[~held])
            for k in range(y.shape[1]):
                coefs, intercepts = path.solve(y[~held, k], alphas)
                oof[k, held] = Z[held] @ coefs.T + intercepts
        return [
            _best(alphas, [ccc(y[:, k], oof[k, :, a]) for a in range(len(alphas))])
            for k in range(y.shape[1])
        ]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """(n_samples, n_targets) predictions; (n_samples,) if fitted on a 1-d y."""
        check_is_fitted(self, "coef_")
        weights, offset = standardised_linear_map(self.coef_.T, self.mean_, self.scale_)
        pred: NDArray[np.float64] = check_features(self, X, reset=False) @ weights + (
            offset + self.intercept_
        )
        return pred[:, 0] if getattr(self, "_y_1d", False) else pred  # older pickles: 2-d
