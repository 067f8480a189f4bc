"""Learned confidence (METHOD section 2): how wrong will the model be on this clip?

The model's own score is often wrong about itself, so separate engines learn it:
- `AgreementEstimator` predicts the raters' agreement on a clip from its features
  (low predicted agreement: a hard, ambiguous clip);
- `ErrorEngines` learn the main regressor's absolute error from out-of-fold errors,
  several gradient-boosted engines on bootstrap samples, giving a mean and a spread;
- `ConfidenceModel` combines both and calibrates them on held-out human labels
  (isotonic) into an expected absolute error per clip and target, in label units, plus
  a bound that holds for a chosen share of clips.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import nnls
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from learner.cooperative import MAE_PER_SD
from learner.regressors import LinearRegressor, predict_matrix
from learner.ridge import principal_axes
from learner.standardise import fit_standardiser, standardise, standardised_linear_map
from learner.validation import check_features, check_sample_weight, check_targets

# Above this min(n_samples, n_features), the engines' principal components come from the
# Gram matrix of at most learner.ridge.BASIS_ROWS clips instead of a full SVD.
EXACT_PCA_MAX_RANK = 512


class _Standardised:
    """Standardised features, projected on their `n_components` leading principal
    components when there are more features than that (None: every feature). The
    engines are fitted on a few hundred clips every round, and the boosted trees'
    cost grows with the number of inputs."""

    n_components: int | None = None
    n_features_in_: int
    mean_: NDArray[np.float64]
    scale_: NDArray[np.float64]
    components_: NDArray[np.float64] | None

    def fit_scaler(
        self, X: NDArray[np.float64], like: "_Standardised | None" = None
    ) -> NDArray[np.float64]:
        """Fit the scaling on X and return X scaled; `like`: another estimator's scaling,
        fitted on the same X with the same `n_components`, taken over (at 6,373
        features the principal axes are most of a confidence fit's cost)."""
        if like is not None:
            if like.n_components != self.n_components or like.n_features_in_ != X.shape[1]:
                raise ValueError("`like` must be scaled for the same features and components")
            self.mean_, self.scale_ = like.mean_, like.scale_
            self.components_ = like.components_
            return self.scaled(X)
        self.mean_, self.scale_ = fit_standardiser(X)
        self.components_ = None
        Z = standardise(X, self.mean_, self.scale_)
        if self.n_components is not None and Z.shape[1] > self.n_components:
            if min(Z.shape) <= EXACT_PCA_MAX_RANK:
                _, _, vt = np.linalg.svd(Z, full_matrices=False)
                self.components_ = vt[: self.n_components].T
            else:  # thousands of clips and features: a full SVD would take minutes
                self.components_ = principal_axes(Z, self.n_components, random_state=0)
        return Z if self.components_ is None else Z @ self.components_

    def scaled(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        components = getattr(self, "components_", None)  # bundles saved before it: none
        if components is None:
            return standardise(X, self.mean_, self.scale_)
        weights, offset = standardised_linear_map(components, self.mean_, self.scale_)
        projected: NDArray[np.float64] = X @ weights + offset
        return projected


_ENGINE_SIGNALS = 3  # engines' error, their spread, predicted disagreement


def _boosted_trees(max_iter: int, random_state: int | None) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        max_iter=max_iter,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=10,
        l2_regularization=1.0,
        random_state=random_state,
    )


class AgreementEstimator(_Standardised, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """Predicts a clip's rater agreement (0..1) from its features; NaN targets skipped."""

    def __init__(
        self,
        max_iter: int = 60,
        n_components: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.max_iter = max_iter
        self.n_components = n_components
        self.random_state = random_state

    def fit(
        self, X: ArrayLike, y: ArrayLike, scaled_like: _Standardised | None = None
    ) -> "AgreementEstimator":
        """Fit on X (n_samples, n_features) and y, each clip's agreement (n_samples,);
        `scaled_like`: an estimator whose scaling of the same X is taken over."""
        X = check_features(self, X)
        agreement = check_targets(y, len(X))
        if agreement.ndim != 1:
            raise ValueError(f"one agreement per clip is required, got shape {agreement.shape}")
        known = ~np.isnan(agreement)
        Z = self.fit_scaler(X, like=scaled_like)
        self.constant_ = float(np.nanmean(agreement)) if known.any() else np.nan
        self.model_ = None
        if known.sum() >= 10:
            self.model_ = _boosted_trees(self.max_iter, self.random_state).fit(
                Z[known], agreement[known]
            )
        return self

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self, "constant_")
        X = check_features(self, X, reset=False)
        if self.model_ is None:
            return np.full(len(X), self.constant_)
        predicted: NDArray[np.float64] = np.clip(self.model_.predict(self.scaled(X)), 0.0, 1.0)
        return predicted


class ErrorEngines(_Standardised, BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """Out-of-fold absolute errors of `regressor`, learned by bootstrap ridge engines.

    Attributes
    ----------
    oof_error_ : (n_samples, n_targets) out-of-fold absolute errors (NaN where unlabelled)
    """

    def __init__(
        self,
        regressor: Any = None,
        n_folds: int = 5,
        n_engines: int = 5,
        max_iter: int = 60,
        n_components: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.regressor = regressor
        self.n_folds = n_folds
        self.n_engines = n_engines
        self.max_iter = max_iter
        self.n_components = n_components
        self.random_state = random_state

    def fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> "ErrorEngines":
        X = check_features(self, X)
        if len(X) < 2:
            raise ValueError(f"out-of-fold errors need 2 samples or more, got n_samples = {len(X)}")
        y = check_targets(y, len(X)).reshape(len(X), -1)
        sample_weight = check_sample_weight(sample_weight, len(X))
        rng = check_random_state(self.random_state)
        base = self.regressor if self.regressor is not None else LinearRegressor()
        oof = np.full(y.shape, np.nan)
        folds = KFold(
            n_splits=min(self.n_folds, len(X)), shuffle=True, random_state=rng.randint(2**31 - 1)
        )
        for train, held in folds.split(X):
            model = clone(base)
            fit_params = {} if sample_weight is None else {"sample_weight": sample_weight[train]}
            model.fit(X[train], y[train], **fit_params)
            oof[held] = np.abs(predict_matrix(model, X[held]) - y[held])
        self.oof_error_ = oof
        Z = self.fit_scaler(X)
        self.engines_ = []
        for _ in range(self.n_engines):
            sample = rng.randint(0, len(X), len(X))
            per_target = []
            for t in range(y.shape[1]):
                rows = sample[~np.isnan(oof[sample, t])]
                per_target.append(
                    self._engine(rng).fit(Z[rows], oof[rows, t])
                    if rows.size >= 10
                    else float(np.nanmean(oof[:, t]))
                )
            self.engines_.append(per_target)
        return self

    def _engine(self, rng: np.random.RandomState) -> HistGradientBoostingRegressor:
        # Errors depend on the features non-linearly (noisy regions, far-out clips).
        return _boosted_trees(self.max_iter, rng.randint(2**31 - 1))

    def predict(self, X: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Mean and spread over engines of the predicted absolute error: (n, n_targets) each."""
        check_is_fitted(self, "engines_")
        Z = self.scaled(check_features(self, X, reset=False))
        members = np.stack(
            [
                np.column_stack(
                    [e.predict(Z) if hasattr(e, "predict") else np.full(len(Z), e) for e in engine]
                )
                for engine in self.engines_
            ]
        )
        members = np.clip(members, 0.0, None)
        return members.mean(axis=0), members.std(axis=0)


class ConfidenceModel(BaseEstimator):  # type: ignore[misc]  # sklearn: untyped
    """Expected absolute error per clip and target, calibrated on held-out human labels.

    `fit` trains the engines on the training clips; `calibrate` learns, on development
    clips with human labels, how the engines' error estimate, their spread, the
    predicted disagreement and (given the model's predictions) where the prediction lies
    combine into the real error (non-negative least squares, then isotonic per target),
    and the factor that turns it into a bound holding for `coverage` of clips. The
    engines see the features' `n_components` leading principal components: on the shared
    corpora they rank errors no worse than on every feature, and a training round costs
    about half as much (docs/benchmarks.md).
    """

    def __init__(
        self,
        regressor: Any = None,
        n_folds: int = 5,
        n_error_engines: int = 5,
        coverage: float = 0.8,
        n_components: int | None = 16,
        random_state: int | None = 0,
    ) -> None:
        self.regressor = regressor
        self.n_folds = n_folds
        self.n_error_engines = n_error_engines
        self.coverage = coverage
        self.n_components = n_components
        self.random_state = random_state

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        agreement: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> "ConfidenceModel":
        X = check_features(self, X)
        y = check_targets(y, len(X)).reshape(len(X), -1)
        self.errors_ = ErrorEngines(
            self.regressor,
            self.n_folds,
            self.n_error_engines,
            n_components=self.n_components,
            random_state=self.random_state,
        ).fit(X, y, sample_weight)
        agreement = np.full(len(X), np.nan) if agreement is None else agreement
        self.agreement_ = AgreementEstimator(
            n_components=self.n_components, random_state=self.random_state
        ).fit(X, agreement, scaled_like=self.errors_)
        self.label_mean_ = np.nan_to_num(np.nanmean(y, axis=0))
        self.label_span_ = np.nan_to_num(np.nanmax(np.abs(y - self.label_mean_), axis=0))
        # Until calibrated: the out-of-fold errors themselves calibrate the engines.
        self.calibrate(X, self.errors_.oof_error_)
        return self

    def signals(self, X: ArrayLike, prediction: ArrayLike | None = None) -> NDArray[np.float64]:
        """(n, n_targets, signals): the engines' error and spread, the predicted
        disagreement and, given the model's prediction, how far it lies from the training
        labels' mean, in both directions (shrunk models err most on extreme clips, or on
        middling ones: calibration picks the side)."""
        check_is_fitted(self, "errors_")
        X = check_features(self, X, reset=False)
        return self._signals(X, prediction, self.agreement_.predict(X))

    def _signals(
        self,
        X: NDArray[np.float64],
        prediction: ArrayLike | None,
        agreement: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        mean, spread = self.errors_.predict(X)
        disagreement = 1.0 - np.nan_to_num(agreement, nan=0.5)
        signals = [mean, spread, np.repeat(disagreement[:, None], mean.shape[1], axis=1)]
        if prediction is not None:
            predicted = np.asarray(prediction, dtype=np.float64).reshape(mean.shape)
            extremeness = np.abs(predicted - self.label_mean_[None, :])
            signals += [extremeness, np.maximum(self.label_span_ - extremeness, 0.0)]
        stacked: NDArray[np.float64] = np.stack(signals, axis=-1)
        return stacked

    def _uses_prediction(self, prediction: ArrayLike | None) -> bool:
        uses: bool = getattr(self, "uses_prediction_", False)  # bundles saved before it: no
        if uses and prediction is None:
            raise ValueError("this confidence was calibrated with predictions: pass them")
        return uses

    def calibrate(
        self, X: ArrayLike, abs_error: ArrayLike, prediction: ArrayLike | None = None
    ) -> "ConfidenceModel":
        """Fit the combination and calibration on real absolute errors (n, n_targets),
        with the model's predictions for these clips when given (then `predict` needs
        them too)."""
        return self.calibrate_signals(self.signals(X, prediction), abs_error)

    def calibrate_signals(
        self, raw: NDArray[np.float64], abs_error: ArrayLike, label_error: ArrayLike | None = None
    ) -> "ConfidenceModel":
        """`calibrate` on precomputed `signals` (computed once, reused on subsets).

        `label_error` is the standard error of the labels the errors were measured
        against (per clip and target; None or NaN: exact). A noisy label adds its own
        error to every measured one, so a calibration on raw errors could never say less
        than the labels' noise, however good the model: the calibrated error is the
        measured one with the labels' mean noise taken out (for normal errors, the mean
        absolute errors add in quadrature), an error against the true value."""
        self.uses_prediction_ = raw.shape[2] > _ENGINE_SIGNALS
        error = np.asarray(abs_error, dtype=np.float64).reshape(raw.shape[:2])
        se = (
            np.zeros(error.shape)
            if label_error is None
            else np.nan_to_num(np.asarray(label_error, dtype=np.float64).reshape(error.shape))
        )
        engines_only = np.eye(1, raw.shape[2])[0]
        self.weights_: list[NDArray[np.float64]] = []
        self.isotonic_: list[IsotonicRegression | None] = []
        self.bound_factor_: list[float] = []
        self.label_noise_: list[float] = []
        for t in range(raw.shape[1]):
            rows = ~np.isnan(error[:, t])
            if rows.sum() < 3:
                self.weights_.append(engines_only)
                self.isotonic_.append(None)
                self.bound_factor_.append(2.0)
                self.label_noise_.append(0.0)
                continue
            weights, _ = nnls(raw[rows, t], error[rows, t])
            if not weights.any():
                weights = engines_only
            score = raw[rows, t] @ weights
            iso = IsotonicRegression(y_min=1e-3, out_of_bounds="clip").fit(score, error[rows, t])
            # The labels' own mean absolute error, for normal errors sqrt(2/pi) * RMS se.
            self.label_noise_.append(float(MAE_PER_SD * np.sqrt(np.mean(se[rows, t] ** 2))))
            self.weights_.append(weights)
            self.isotonic_.append(iso)
            expected = self._denoised(np.maximum(iso.predict(score), 1e-3), t)
            factor = float(np.quantile(error[rows, t] / expected, self.coverage))
            self.bound_factor_.append(factor)
        return self

    def _denoised(self, measured: NDArray[np.float64], t: int) -> NDArray[np.float64]:
        noise = getattr(self, "label_noise_", None)  # bundles saved before it: exact labels
        if not noise or noise[t] == 0.0:
            return measured
        cleaned: NDArray[np.float64] = np.sqrt(np.maximum(measured**2 - noise[t] ** 2, 1e-6))
        return cleaned

    def predict(
        self, X: ArrayLike, prediction: ArrayLike | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(expected absolute error (n, n_targets), predicted agreement (n,))."""
        check_is_fitted(self, "errors_")
        X = check_features(self, X, reset=False)
        agreement = self.agreement_.predict(X)
        raw = self._signals(X, prediction if self._uses_prediction(prediction) else None, agreement)
        return self.expected_error(raw), agreement

    def expected_error(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated expected absolute error (n, n_targets) from precomputed `signals`."""
        expected = np.empty(raw.shape[:2])
        for t in range(raw.shape[1]):
            score = raw[:, t] @ self.weights_[t]
            iso = self.isotonic_[t]
            expected[:, t] = (
                self._denoised(np.maximum(iso.predict(score), 1e-3), t)
                if iso is not None
                else score
            )
        return expected

    def bound(self, X: ArrayLike, prediction: ArrayLike | None = None) -> NDArray[np.float64]:
        """An error bound that the real error stays under for about `coverage` of clips."""
        expected, _ = self.predict(X, prediction)
        bound: NDArray[np.float64] = expected * np.asarray(self.bound_factor_)[None, :]
        return bound
