"""Closed-form ridge regression of one target, the solver of the learner's linear models.

Used by `learner.regressors.LinearRegressor` (weighted, penalty chosen per target) and by
`learner.online.RidgeEnsemble` (unweighted bootstrap members). It lives outside
`learner.regressors` so that the online ranker does not import torch.
"""

import numpy as np
from numpy.typing import NDArray


def ridge(
    Z: NDArray[np.float64],
    y: NDArray[np.float64],
    alpha: float,
    sample_weight: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], float]:
    """Coefficients and intercept minimising `sum w (y - Z coef - b)**2 + alpha |coef|**2`.

    Z (n_samples, n_features) and y (n_samples,) must be finite; the intercept is not
    penalised. Weights are rescaled to mean 1, so `alpha` means the same whatever their
    scale; None is the unweighted case (every weight 1), computed without the weights.
    With fewer samples than features the dual form is solved (an n x n system instead of
    d x d); both forms give the same coefficients.
    """
    if sample_weight is None:
        z_mean = Z.mean(axis=0)
        y_mean = float(y.mean())
        Zc, yc = Z - z_mean, y - y_mean
        Zw = Zc
    else:
        w = sample_weight / sample_weight.mean()
        z_mean = np.average(Z, axis=0, weights=w)
        y_mean = float(np.average(y, weights=w))
        Zc, yc = Z - z_mean, y - y_mean
        Zw = Zc * w[:, None]
    n, d = Zc.shape
    if n < d:  # dual form: cheaper with fewer samples than features
        coef = Zw.T @ np.linalg.solve(Zc @ Zw.T + alpha * np.eye(n), yc)
    else:
        coef = np.linalg.solve(Zc.T @ Zw + alpha * np.eye(d), Zw.T @ yc)
    return coef, y_mean - float(z_mean @ coef)
