"""Dynamic raters: how many people a clip needs (METHOD section 4)."""

import numpy as np
from numpy.typing import NDArray

MIN_NOISE_CLIPS = 10
"""Clips with at least two ratings needed before the crowd's noise on a target counts as
known; below that, the noise is unknown and `clip_needs_another_rater` falls back to the
agreement rule."""


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


def clip_needs_another_rater(
    ratings: NDArray,
    noise: NDArray | None,
    *,
    panel: int,
    max_raters: int,
    agreement: float,
    agreement_target: float,
) -> bool:
    """Whether a clip that has the ratings it was meant to get should get one more.

    `ratings` is (n_ratings, n_targets), NaN where a rating lacks a target. `noise` is
    the crowd's rating noise per target (`rater_noise`); None, or NaN on a target, means
    unknown. When the noise of every target with ratings is known, the rule is
    `needs_another_rater` with `target_error = noise / sqrt(panel)`, target by target on
    the ratings that have it: the label must be as certain as the mean of `panel`
    typical raters. Otherwise (cold start) the agreement rule decides: a second rating
    always (so the noise can be learnt), then one more while the clip's lowest
    `agreement` is below `agreement_target`. Never beyond `max_raters`.
    """
    ratings = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    if len(ratings) >= max_raters:
        return False
    rated = ~np.all(np.isnan(ratings), axis=0)
    if noise is not None:
        noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), rated.shape)
    if noise is None or not rated.any() or not np.all(np.isfinite(noise[rated])):
        # Two ratings at least: without clips rated twice the noise never becomes known.
        return needs_more_ratings(
            n_ratings=len(ratings),
            agreement=agreement,
            min_raters=2,
            max_raters=max_raters,
            agreement_target=agreement_target,
        )
    for t in np.flatnonzero(rated):
        column = ratings[~np.isnan(ratings[:, t]), t : t + 1]
        target_error = noise[t] / np.sqrt(panel)
        if needs_another_rater(
            column, noise[t : t + 1], target_error=target_error, max_raters=max_raters
        ):
            return True
    return False
