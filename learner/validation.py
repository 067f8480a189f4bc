"""Input checks shared by the learner's estimators (scikit-learn conventions).

Features go through `sklearn.utils.validation.validate_data` (`check_features`: finite,
2-d, float64; `n_features_in_` set by fit and checked by predict). Targets may be NaN, a missing
label that the estimators mask out, so they are checked here instead.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data


def check_features(estimator: Any, X: ArrayLike, *, reset: bool = True) -> NDArray[np.float64]:
    """`X` as a finite float (n_samples, n_features) matrix; fit (`reset`) records
    `estimator.n_features_in_`, predict checks X against it (skipped for estimators
    pickled before they had it)."""
    checked: NDArray[np.float64] = validate_data(estimator, X, dtype=np.float64, reset=reset)
    return checked


def check_targets(y: ArrayLike | None, n_samples: int) -> NDArray[np.float64]:
    """`y` as a float array of shape (n_samples,) or (n_samples, n_targets), NaN where a
    label is missing; None, infinite values, other shapes and other lengths raise
    ValueError."""
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None")
    checked: NDArray[np.float64] = check_array(
        y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan"
    )
    if len(checked) != n_samples:
        raise ValueError(f"y has {len(checked)} samples, X has {n_samples}")
    return checked


def check_sample_weight(
    sample_weight: ArrayLike | None, n_samples: int
) -> NDArray[np.float64] | None:
    """None, or one finite non-negative float weight per sample, not all zero."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight has shape {w.shape}, expected ({n_samples},)")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to zero")
    return w
