"""More clip-level regressors, scikit-learn style: PLS, support vector regression, one
model per target, and robust scaling with outliers clipped in front of any regressor.

All are multi-target with NaN targets masked out (each target is fitted on the clips that
have it) and take `sample_weight`. Large brute-force sets such as ComParE 2016 carry
features whose few extreme values dominate a z-score: `PLSRegressor` and `SVRRegressor`
scale every feature by its median and interquartile range and clip it to +-`clip`
(`fit_robust_scaler`, `robust_scale`); `ClippedRegressor` puts the same scaling in front of
another regressor (the ridge baseline, the MLP).
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.svm import SVR
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from learner.metrics import ccc
from learner.validation import check_features, check_sample_weight, check_targets

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]
Index = NDArray[np.intp]

CLIP = 5.0  # robust z-scores beyond this are outliers, clipped
COMPONENTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
LINEAR_SVR_CS = tuple(10.0 ** np.arange(-4.0, -0.5))
RBF_SVR_CS = (0.1, 0.3, 1.0, 3.0, 10.0)


def fit_robust_scaler(X: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Median and robust scale of every feature: the interquartile range / 1.349 (the
    standard deviation of a normal feature), else the standard deviation where the
    interquartile range is 0 (a mostly constant feature), else 1.0."""
    # Quartiles of blocks of columns laid out as rows: partitioning contiguous rows is
    # several times faster than along the strided columns of a wide matrix (same values).
    quartiles = np.hstack(
        [
            np.percentile(np.ascontiguousarray(X[:, start : start + 512].T), [25, 50, 75], axis=1)
            for start in range(0, X.shape[1], 512)
        ]
    )
    q25, center, q75 = quartiles
    scale = (q75 - q25) / 1.349
    flat = scale <= 1e-12
    scale[flat] = X[:, flat].std(axis=0)
    scale[scale <= 1e-12] = 1.0
    return center, scale


def robust_scale(
    X: NDArray[np.float64],
    center: NDArray[np.float64],
    scale: NDArray[np.float64],
    clip: float | None = CLIP,
) -> NDArray[np.float64]:
    """`(X - center) / scale`, clipped to +-`clip` (None: not clipped)."""
    Z: NDArray[np.float64] = X - center
    Z /= scale  # in place, as the clip: one copy of a wide pool, not three
    return Z if clip is None else np.clip(Z, -clip, clip, out=Z)


def _folds(n: int, random_state: int | None) -> NDArray[np.int64] | None:
    """Fold number of each of n samples for K-fold selection (K <= 5), None below 8."""
    n_folds = min(5, n // 4)
    if n_folds < 2:
        return None
    folds: NDArray[np.int64] = check_random_state(random_state).permutation(n) % n_folds
    return folds


def _best_by_cv(
    fit_predict: Callable[[Index, Index], Matrix],
    y: Vector,
    n_candidates: int,
    random_state: int | None,
) -> int:
    """The index of the candidate whose out-of-fold predictions have the best CCC.

    `fit_predict(train_rows, held_rows)` fits every candidate on the training rows and
    returns (n_held, n_candidates) predictions of the held rows; with too few samples for
    folds, the middle candidate."""
    folds = _folds(len(y), random_state)
    if folds is None:
        return n_candidates // 2
    oof = np.empty((len(y), n_candidates))
    for k in range(int(folds.max()) + 1):
        held = np.flatnonzero(folds == k)
        oof[held] = fit_predict(np.flatnonzero(folds != k), held)
    return int(np.argmax([ccc(y, oof[:, c]) for c in range(n_candidates)]))


class _MultiTarget:
    """scikit-learn tags of a regressor with several targets (mixed in first)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]  # the estimator's own
        tags.target_tags.multi_output = True
        return tags


class _PerTargetBase(_MultiTarget, RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """Fits one model per target on the rows that have it, on robustly scaled features.

    Subclasses define `_fit_one(Z, y, w, random_state) -> model` and
    `_predict_one(model, Z) -> (n_samples,)`; a target without labels predicts NaN."""

    clip: float | None

    def _fit_one(
        self, Z: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
    ) -> Any:
        raise NotImplementedError

    def _predict_one(self, model: Any, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Any:
        """Fit on X (n_samples, n_features) and y (n_samples[, n_targets]), NaN = missing."""
        X = check_features(self, X)
        y = check_targets(y, len(X))
        self._y_1d = y.ndim == 1
        y = y.reshape(len(X), -1)
        w = check_sample_weight(sample_weight, len(X))
        w = np.ones(len(X)) if w is None else w / w.mean()
        self.n_targets_ = y.shape[1]
        self.center_, self.scale_ = fit_robust_scaler(X)
        Z = robust_scale(X, self.center_, self.scale_, self.clip)
        self.models_: list[Any] = []
        for t in range(self.n_targets_):
            rows = np.flatnonzero(~np.isnan(y[:, t]) & (w > 0))
            self.models_.append(self._fit_one(Z[rows], y[rows, t], w[rows]) if rows.size else None)
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """(n_samples, n_targets) predictions; (n_samples,) if fitted on a 1-d y."""
        check_is_fitted(self, "models_")
        X = check_features(self, X, reset=False)
        Z = robust_scale(X, self.center_, self.scale_, self.clip)
        pred = np.column_stack(
            [
                np.full(len(Z), np.nan) if model is None else self._predict_one(model, Z)
                for model in self.models_
            ]
        )
        return pred[:, 0] if self._y_1d else pred


class PLSRegressor(_PerTargetBase):
    """Partial least squares per target (PLS1, SIMPLS), the number of components chosen
    per target by the CCC of K-fold out-of-fold predictions.

    PLS is a reduced-rank linear regression: it regresses on the few directions of the
    features that covary most with the target, which suits thousands of correlated
    functionals. Weighted: weighted means, covariances and least squares (with uniform
    weights the predictions are those of scikit-learn's `PLSRegression(scale=False)` on
    the same scaled features).

    Attributes
    ----------
    center_, scale_ : robust feature scaling; models_ : per target (coef, intercept, k)
    n_components_ : (n_targets,) components chosen
    """

    def __init__(
        self,
        components: Sequence[int] = COMPONENTS,
        clip: float | None = CLIP,
        random_state: int | None = 0,
    ) -> None:
        self.components = components
        self.clip = clip
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Any:
        super().fit(X, y, sample_weight)
        self.n_components_ = np.array([0 if m is None else m[2] for m in self.models_])
        return self

    def _candidates(self, n: int, d: int) -> list[int]:
        most = max(1, min(n - 2, d))
        return sorted({min(int(k), most) for k in self.components})

    def _fit_one(
        self, Z: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], float, int]:
        folds = _folds(len(y), self.random_state)
        inner = len(y) - (0 if folds is None else int(np.bincount(folds).max()))
        candidates = self._candidates(inner, Z.shape[1])

        def fit_predict(train: Index, held: Index) -> Matrix:
            coefs, intercepts = simpls(Z[train], y[train], w[train], max(candidates))
            columns = [k - 1 for k in candidates]
            pred: Matrix = Z[held] @ coefs[:, columns] + intercepts[columns]
            return pred

        best = candidates[_best_by_cv(fit_predict, y, len(candidates), self.random_state)]
        coefs, intercepts = simpls(Z, y, w, best)
        return coefs[:, best - 1], float(intercepts[best - 1]), best

    def _predict_one(self, model: Any, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        coef, intercept, _ = model
        pred: NDArray[np.float64] = Z @ coef + intercept
        return pred


def simpls(
    Z: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64], n_components: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted univariate PLS (SIMPLS, de Jong 1993) with 1..n_components components.

    Returns coefficients (n_features, n_components), column k-1 those of the k-component
    model, and the matching intercepts (n_components,). X is never deflated (no copy of
    the feature matrix per component): the cross-covariance is projected off the loadings
    found so far instead.
    """
    w = w / w.sum()
    z_mean = w @ Z
    y_mean = float(w @ y)
    yc = y - y_mean
    Zc = Z - z_mean
    s = Zc.T @ (w * yc)
    d = Z.shape[1]
    R = np.zeros((d, n_components))
    V = np.zeros((d, n_components))
    q = np.zeros(n_components)
    done = 0
    for a in range(n_components):
        r = s
        t = Zc @ r
        norm = float(np.sqrt(w @ t**2))
        if norm <= 1e-12:
            break
        t, r = t / norm, r / norm
        p = Zc.T @ (w * t)
        v = p - V[:, :a] @ (V[:, :a].T @ p)
        v /= np.linalg.norm(v)
        s = s - v * (v @ s)
        R[:, a], V[:, a], q[a] = r, v, float(w @ (yc * t))
        done = a + 1
    coefs = np.cumsum(R * q, axis=1)
    if done < n_components:  # no more signal: the later models repeat the last one
        coefs[:, done:] = coefs[:, [max(done - 1, 0)]]
    intercepts = y_mean - z_mean @ coefs
    return coefs, intercepts


class SVRRegressor(_PerTargetBase):
    """Epsilon-insensitive support vector regression per target (libsvm), C chosen per
    target by the CCC of K-fold out-of-fold predictions on at most `cv_max_samples` clips
    (the final fit uses all).

    kernel="linear": the seed's linear SVR; its weight vector is kept (`coef`), so a model
    is small and predicts with one product. "rbf": Gaussian kernel, gamma = 1 /
    (n_features x variance of the scaled features), as scikit-learn's "scale"; the model
    keeps its support vectors. Both solve on a precomputed kernel matrix (n_samples^2
    memory and n_samples^2 x n_features time: meant for thousands of clips, not for
    hundreds of thousands). Targets are centred by their weighted mean first.

    `Cs`: the grid of C (None: 1e-4 .. 0.1 for the linear kernel, 0.1 .. 10 for rbf, on
    features scaled to unit robust spread).

    Attributes
    ----------
    center_, scale_ : robust feature scaling; models_ : per target (kind, parameters)
    C_ : (n_targets,) chosen C
    """

    def __init__(
        self,
        kernel: str = "linear",
        Cs: Sequence[float] | None = None,
        epsilon: float = 0.05,
        clip: float | None = CLIP,
        cv_max_samples: int = 2000,
        random_state: int | None = 0,
    ) -> None:
        self.kernel = kernel
        self.Cs = Cs
        self.epsilon = epsilon
        self.clip = clip
        self.cv_max_samples = cv_max_samples
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> Any:
        if self.kernel not in ("linear", "rbf"):
            raise ValueError(f"unknown kernel {self.kernel!r}; known: linear, rbf")
        super().fit(X, y, sample_weight)
        self.C_ = np.array([np.nan if m is None else m[1]["C"] for m in self.models_])
        return self

    def _gram(self, A: Matrix, B: Matrix, gamma: float) -> Matrix:
        K: Matrix = A @ B.T
        if self.kernel == "rbf":
            sq = (A**2).sum(axis=1)[:, None] + (B**2).sum(axis=1)[None, :] - 2 * K
            K = np.exp(-gamma * np.maximum(sq, 0.0))
        return K

    def _fit_one(self, Z: Matrix, y: Vector, w: Vector) -> tuple[str, dict[str, Any]]:
        default = LINEAR_SVR_CS if self.kernel == "linear" else RBF_SVR_CS
        Cs = list(default if self.Cs is None else self.Cs)
        offset = float(np.average(y, weights=w))
        yc = y - offset
        variance = float(Z.var())
        gamma = 1.0 / (Z.shape[1] * variance) if variance > 0 else 1.0
        rows = np.arange(len(y))
        if len(y) > self.cv_max_samples:
            rows = np.sort(
                check_random_state(self.random_state).choice(
                    len(y), self.cv_max_samples, replace=False
                )
            )
        K = self._gram(Z[rows], Z[rows], gamma)

        def fit_predict(train: Index, held: Index) -> Matrix:
            fits = [
                SVR(kernel="precomputed", C=C, epsilon=self.epsilon).fit(
                    K[np.ix_(train, train)], yc[rows][train], sample_weight=w[rows][train]
                )
                for C in Cs
            ]
            return np.column_stack([f.predict(K[np.ix_(held, train)]) for f in fits])

        C = Cs[_best_by_cv(fit_predict, yc[rows], len(Cs), self.random_state)]
        if len(rows) < len(y):
            K = self._gram(Z, Z, gamma)
        svr = SVR(kernel="precomputed", C=C, epsilon=self.epsilon).fit(K, yc, sample_weight=w)
        support = Z[svr.support_]
        dual = svr.dual_coef_[0]
        intercept = float(svr.intercept_[0]) + offset
        if self.kernel == "linear":
            return "linear", {"C": C, "coef": dual @ support, "intercept": intercept}
        return "rbf", {
            "C": C,
            "support": support,
            "dual": dual,
            "gamma": gamma,
            "intercept": intercept,
        }

    def _predict_one(self, model: Any, Z: Matrix) -> Vector:
        kind, p = model
        if kind == "linear":
            pred: Vector = Z @ p["coef"] + p["intercept"]
        else:
            pred = self._gram(Z, p["support"], p["gamma"]) @ p["dual"] + p["intercept"]
        return pred


class PerTargetRegressor(_MultiTarget, RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """One clone of `estimator` per target, each fitted on the clips that have that
    target (with their sample weights): e.g. one MLP per target instead of one network
    with a head per target.

    Attributes
    ----------
    estimators_ : per target the fitted clone, or None for a target without labels
    """

    def __init__(self, estimator: Any = None, random_state: int | None = 0) -> None:
        self.estimator = estimator
        self.random_state = random_state

    def _template(self) -> Any:
        if self.estimator is None:
            from learner.regressors.torch_models import MLPRegressor

            return MLPRegressor(random_state=self.random_state)
        model = clone(self.estimator)
        if "random_state" in model.get_params():
            model.set_params(random_state=self.random_state)
        return model

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "PerTargetRegressor":
        """Fit on X (n_samples, n_features) and y (n_samples[, n_targets]), NaN = missing."""
        X = check_features(self, X)
        y = check_targets(y, len(X))
        self._y_1d = y.ndim == 1
        y = y.reshape(len(X), -1)
        w = check_sample_weight(sample_weight, len(X))
        self.n_targets_ = y.shape[1]
        self.estimators_: list[Any] = []
        for t in range(self.n_targets_):
            rows = np.flatnonzero(~np.isnan(y[:, t]) & (True if w is None else w > 0))
            if rows.size == 0:
                self.estimators_.append(None)
                continue
            model = self._template()
            model.fit(X[rows], y[rows, t], sample_weight=None if w is None else w[rows])
            self.estimators_.append(model)
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """(n_samples, n_targets) predictions; (n_samples,) if fitted on a 1-d y."""
        check_is_fitted(self, "estimators_")
        X = check_features(self, X, reset=False)
        pred = np.column_stack(
            [
                np.full(len(X), np.nan)
                if model is None
                else np.asarray(model.predict(X), dtype=np.float64).reshape(len(X))
                for model in self.estimators_
            ]
        )
        return pred[:, 0] if self._y_1d else pred


class ClippedRegressor(_MultiTarget, RegressorMixin, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """`estimator` on robustly scaled features clipped to +-`clip` (see the module's
    docstring); NaN targets and sample weights are passed on as they are.

    Attributes
    ----------
    center_, scale_ : robust feature scaling; estimator_ : the fitted clone
    """

    def __init__(self, estimator: Any = None, clip: float = CLIP) -> None:
        self.estimator = estimator
        self.clip = clip

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "ClippedRegressor":
        X = check_features(self, X)
        y = check_targets(y, len(X))
        if self.estimator is None:
            from learner.regressors.linear import LinearRegressor

            self.estimator_ = LinearRegressor()
        else:
            self.estimator_ = clone(self.estimator)
        self.center_, self.scale_ = fit_robust_scaler(X)
        Z = robust_scale(X, self.center_, self.scale_, self.clip)
        self.estimator_.fit(Z, y, sample_weight=sample_weight)
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "estimator_")
        X = check_features(self, X, reset=False)
        pred: NDArray[np.float64] = self.estimator_.predict(
            robust_scale(X, self.center_, self.scale_, self.clip)
        )
        return pred
