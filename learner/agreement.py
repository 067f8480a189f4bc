"""Agreement of raters, their reliability, and the gold standard (METHOD section 1).

Rating tables are arrays of shape (n_clips, n_raters) with NaN where a rater did not
rate a clip, as crowds leave them.
"""

import audpsychometric
import numpy as np
from numpy.typing import ArrayLike, NDArray


def clip_agreement(values: ArrayLike, *, scale_min: float, scale_max: float) -> float:
    """Agreement in [0, 1] of one clip's ratings for one target: `1 - std / std_max`.

    `std_max` is the largest population standard deviation possible on the scale (half
    the raters at each end), so 1 means identical ratings and 0 the widest split.
    A single rating has agreement 1 by convention: nothing contradicts it yet.
    Same formula as `audpsychometric.agreement_numerical`.
    """
    ratings = np.asarray(values, dtype=np.float64).ravel()
    if ratings.size == 0:
        raise ValueError("agreement of no ratings")
    return float(audpsychometric.agreement_numerical(ratings, scale_min, scale_max))


def ewe_gold(values: ArrayLike, reliabilities: ArrayLike) -> float:
    """Evaluator weighted estimator: the reliability-weighted mean of one clip's ratings.

    Falls back to the plain mean when every weight is zero.
    """
    ratings = np.asarray(values, dtype=np.float64).ravel()
    weights = np.clip(np.asarray(reliabilities, dtype=np.float64).ravel(), 0.0, None)
    if ratings.shape != weights.shape:
        raise ValueError("one reliability per rating is required")
    if weights.sum() <= 0.0:
        return float(ratings.mean())
    return float(np.dot(weights, ratings) / weights.sum())


def rater_reliability(
    table: ArrayLike, *, prior: float = 0.5, prior_strength: float = 5.0, min_shared: int = 3
) -> NDArray[np.float64]:
    """Reliability of each rater in [0, 1]: leave-one-out correlation with the others.

    For rater k, the Pearson correlation between k's ratings and the mean of the other
    raters on the clips k shares with at least one other rater; negatives count as 0.
    Raters with few shared clips are shrunk towards `prior` (weight `prior_strength`
    clips); fewer than `min_shared` shared clips gives NaN (unknown). With
    `prior_strength=0` on a complete table this equals
    `audpsychometric.rater_agreement` clipped at 0.
    """
    table = np.asarray(table, dtype=np.float64)
    present = ~np.isnan(table)
    filled = np.where(present, table, 0.0)
    sums, counts = filled.sum(axis=1), present.sum(axis=1)
    reliability = np.full(table.shape[1], np.nan)
    for k in range(table.shape[1]):
        others = counts - present[:, k]
        shared = present[:, k] & (others > 0)
        n = int(shared.sum())
        if n < min_shared:
            continue
        own = table[shared, k]
        rest = (sums[shared] - filled[shared, k]) / others[shared]
        if own.std() == 0 or rest.std() == 0:
            r = 0.0
        else:
            r = max(0.0, float(np.corrcoef(own, rest)[0, 1]))
        reliability[k] = (n * r + prior_strength * prior) / (n + prior_strength)
    return reliability
