"""Feature standardisation (z-scores) with a guard for features that do not vary.

The learner's estimators keep the statistics as their own `mean_` and `scale_`
attributes (models pickled before this module existed keep working), fit them with
`fit_standardiser` and apply them with `standardise`:

    self.mean_, self.scale_ = fit_standardiser(X)
    Z = standardise(X, self.mean_, self.scale_)

Two guards for a constant feature exist, kept as they were where each is used:
- estimators: its scale is 1.0, so it is only centred (`fit_standardiser`);
- `learner.features.speaker_normalise`: it becomes exactly 0 (`standardise` with
  `min_scale`, given the raw standard deviation).
"""

import numpy as np
from numpy.typing import ArrayLike, NDArray


def fit_standardiser(
    X: NDArray[np.float64], *, axis: int | tuple[int, ...] = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and scale of every feature of `X` over `axis` (default: the rows).

    The scale is the population standard deviation, or 1.0 where that is 0 (a constant
    feature is then centred, never divided by zero).
    """
    mean = X.mean(axis=axis)
    scale = X.std(axis=axis)
    scale[scale == 0] = 1.0
    return mean, scale


def standardise(
    X: ArrayLike,
    mean: NDArray[np.float64],
    scale: NDArray[np.float64],
    *,
    min_scale: float | None = None,
) -> NDArray[np.float64]:
    """`(X - mean) / scale` as float64, broadcasting over the leading axes.

    min_scale : None, or a threshold for a raw standard deviation passed as `scale`:
        features whose scale is at most `min_scale` give exactly 0 instead of being
        divided (None: `scale` is used as is, e.g. from `fit_standardiser`).
    """
    centred: NDArray[np.float64] = np.asarray(X, dtype=np.float64) - mean
    if min_scale is None:
        centred /= scale  # in place: a pool of thousands of wide rows is hundreds of MB
        return centred
    return np.divide(centred, scale, out=np.zeros_like(centred), where=scale > min_scale)


def standardised_linear_map(
    weights: NDArray[np.float64], mean: NDArray[np.float64], scale: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`(W, b)` such that `X @ W + b == standardise(X, mean, scale) @ weights` for
    weights of shape (n_features, k): the standardisation folded into the map, so that
    applying it never copies X (at 6,373 features a pool of thousands of clips is
    hundreds of MB a copy)."""
    folded = weights / scale[:, None]
    return folded, -(mean @ folded)
