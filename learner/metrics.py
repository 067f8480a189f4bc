"""Evaluation metrics: concordance correlation coefficient (CCC) and Spearman's correlation."""

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import spearmanr


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(y_true, dtype=np.float64).ravel()
    y = np.asarray(y_pred, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"y_true and y_pred differ in length: {x.size} != {y.size}")
    if x.size == 0:
        raise ValueError("metric of empty arrays")
    return x, y


def ccc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Concordance correlation coefficient with population moments ("total CCC").

    `2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))**2)`; 1.0 when both are the
    same constant.
    """
    x, y = _pair(y_true, y_pred)
    mx, my = x.mean(), y.mean()
    cov = np.mean((x - mx) * (y - my))
    denom = x.var() + y.var() + (mx - my) ** 2
    if denom == 0.0:
        return 1.0
    return float(2.0 * cov / denom)


def rank_correlation(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Spearman's correlation; NaN when either side is constant (no ranking at all)."""
    x, y = _pair(y_true, y_pred)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)
