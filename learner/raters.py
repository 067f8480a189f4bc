"""Dynamic raters: how many people a clip needs (METHOD section 4)."""

import numpy as np
from numpy.typing import NDArray


def needs_more_ratings(
    *, n_ratings: int, agreement: float, min_raters: int, max_raters: int, agreement_target: float
) -> bool:
    """Ask one more rater only while agreement is below target and fewer than max answered."""
    if n_ratings < min_raters:
        return True
    return agreement < agreement_target and n_ratings < max_raters


def serve_easy_first(
    *, reliability: float, n_shared: int, min_reliability: float = 0.3, min_shared: int = 10
) -> bool:
    """Whether a rater should get the easiest clips first instead of the most needed.

    A rater whose learned reliability has fallen below `min_reliability`, measured on at
    least `min_shared` clips shared with others, is kept away from the hard, ambiguous
    clips that need the most trustworthy ears (METHOD section 4).
    """
    return n_shared >= min_shared and reliability < min_reliability


def rater_noise(ratings: list[NDArray]) -> NDArray[np.float64]:
    """Pooled standard deviation of one rating around its clip's mean, per target.

    `ratings` holds one (n_raters, n_targets) array per clip; clips with a single rating
    say nothing about noise and are skipped. NaN where no clip has two ratings.
    """
    squares, dof = 0.0, 0
    for clip in ratings:
        clip = np.asarray(clip, dtype=np.float64)
        if len(clip) > 1:
            squares = squares + ((clip - clip.mean(axis=0)) ** 2).sum(axis=0)
            dof += len(clip) - 1
    if dof == 0:
        width = np.asarray(ratings[0]).shape[-1] if ratings else 1
        return np.full(width, np.nan)
    return np.sqrt(squares / dof)


def label_standard_error(
    ratings: NDArray, noise: NDArray, *, prior_strength: float = 1.0
) -> NDArray[np.float64]:
    """Standard error of a clip's mean rating, per target.

    The clip's own spread is shrunk toward the crowd's `noise` (worth `prior_strength`
    ratings), so one or two ratings that happen to agree do not look certain.
    """
    ratings = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    n = len(ratings)
    own = ((ratings - ratings.mean(axis=0)) ** 2).sum(axis=0)
    variance = (prior_strength * np.asarray(noise) ** 2 + own) / (prior_strength + n - 1)
    return np.sqrt(variance / n)


def needs_another_rater(
    ratings: NDArray, noise: NDArray, *, target_error: NDArray | float, max_raters: int
) -> bool:
    """Sequential dynamic raters: ask one more while the clip's label is less certain than
    `target_error` (a standard error per target, e.g. the crowd's noise over sqrt(3)) on
    some target, up to `max_raters`. Clips people agree on stop early; contested ones get
    more ears."""
    if len(np.atleast_2d(ratings)) >= max_raters:
        return False
    return bool(np.any(label_standard_error(ratings, noise) > np.asarray(target_error)))
