"""Dynamic raters: how many people a clip needs (METHOD section 4)."""

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from learner.agreement import clip_agreement, ewe_gold, rater_reliability

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


def rater_noise(ratings: list[NDArray[np.float64]]) -> NDArray[np.float64]:
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
    return np.asarray(np.sqrt(squares / dof), dtype=np.float64)


def human_label_error(noise: ArrayLike, raters: int) -> float | None:
    """Mean absolute error of a `raters`-rater mean label, on the crowd's least noisy
    target: sqrt(2 / pi) * noise / sqrt(raters) for normal errors. A machine label should
    be no worse than this to replace people. None while no target's noise is known."""
    noise = np.asarray(noise, dtype=np.float64)
    known = noise[np.isfinite(noise)]
    if known.size == 0:
        return None
    return float(np.sqrt(2 / np.pi) * known.min() / np.sqrt(raters))


def rater_noise_each(
    clips: ArrayLike,
    raters: ArrayLike,
    values: ArrayLike,
    noise: ArrayLike,
    *,
    prior_strength: float = 5.0,
    floor: float = 1 / 3,
    iterations: int = 3,
    calibrate: bool = True,
    weighted: bool = True,
) -> NDArray[np.float64]:
    """Each rater's own rating noise per target: the root of the mean square distance of
    their ratings from the other raters' mean on shared clips, less the uncertainty of
    that mean, shrunk toward the crowd's pooled `noise` (worth `prior_strength` clips).

    Ratings come in long form: `clips` and `raters` are integer indices (one per rating)
    and `values` is (n_ratings, n_targets), NaN where a rating lacks a target. Bias
    counts as noise: a rater who is consistently off is as useless as a noisy one. No
    rater counts as less noisy than `floor` times the pooled noise, so a lucky streak
    cannot make one person outweigh a panel. Returns (n_raters, n_targets); raters with
    no shared clip get the pooled noise.

    With `weighted`, each shared clip weighs by the inverse variance of its squared
    distance, (own variance + the others' mean's)^-2: a clip shared with the careless
    rater says little about a careful one. Counting every clip alike, a careful rater's
    estimate was mostly the noise of their partners and came out low: on a demo-like
    crowd that stops asking once ratings agree, the best rater 17 % low (RMS 21 %)
    against 1 % (RMS 9 %) weighted, 20 seeds (`python -m bench.noise_stopping`,
    docs/benchmarks.md). With `calibrate`, the noises are then scaled so that their mean
    variance over the shared ratings is the pooled noise^2, which is what the pooled
    noise estimates; calibration keeps who is noisier.
    """
    clips, raters = np.asarray(clips, dtype=np.int64), np.asarray(raters, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64).reshape(len(clips), -1)
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), values.shape[1:])
    n_clips = int(clips.max()) + 1 if clips.size else 0
    n_raters = int(raters.max()) + 1 if raters.size else 0
    out = np.tile(noise, (n_raters, 1))
    for t in range(values.shape[1]):
        if not np.isfinite(noise[t]):
            continue
        rated = np.isfinite(values[:, t])
        c, r, v = clips[rated], raters[rated], values[rated, t]
        count = np.bincount(c, minlength=n_clips)
        total = np.bincount(c, weights=v, minlength=n_clips)
        others = count[c] - 1
        shared = others > 0
        c, r, v, others = c[shared], r[shared], v[shared], others[shared]
        others_mean = (total[c] - v) / others
        n_shared = np.bincount(r, minlength=n_raters)
        variance = np.full(n_raters, noise[t] ** 2)
        for _ in range(iterations):
            # Var(mean of the others) = sum of their variances / count^2.
            clip_variance = np.bincount(c, weights=variance[r], minlength=n_clips)
            others_variance = (clip_variance[c] - variance[r]) / others**2
            # Each clip's (v - others' mean)^2 varies as (its expected value)^2: a clip
            # shared with noisy raters says little about a careful rater, so clips
            # weigh by the inverse of that variance (with `weighted`).
            expected = np.maximum(variance[r] + others_variance, 1e-12)  # a silent crowd
            weight = 1.0 / expected**2 if weighted else np.ones(len(r))
            excess = np.bincount(
                r, weights=weight * ((v - others_mean) ** 2 - others_variance), minlength=n_raters
            ) / np.maximum(np.bincount(r, weights=weight, minlength=n_raters), 1e-300)
            own = np.maximum(excess, (floor * noise[t]) ** 2)
            variance = (n_shared * own + prior_strength * noise[t] ** 2) / (
                n_shared + prior_strength
            )
        if calibrate and n_shared.sum():
            scale = noise[t] ** 2 * n_shared.sum() / np.dot(n_shared, variance)
            variance = np.where(
                n_shared > 0, np.maximum(variance * scale, (floor * noise[t]) ** 2), variance
            )
        out[:, t] = np.sqrt(variance)
    return out


def rater_noise_from_pairs(
    clips: ArrayLike,
    raters: ArrayLike,
    values: ArrayLike,
    order: ArrayLike,
    noise: ArrayLike,
    *,
    prior_strength: float = 5.0,
    floor: float = 1 / 3,
) -> NDArray[np.float64]:
    """Each rater's own rating noise per target, from the first two ratings of every clip:
    E[(r_a - r_b)^2] = s_a^2 + s_b^2, solved for every rater's variance by least squares
    shrunk toward the crowd's pooled `noise`^2 (worth `prior_strength` pairs).

    Long form as `rater_noise_each`, with `order` each rating's rank within its clip (0
    for the first). A clip's first two ratings are asked for before any stopping
    decision, so they are a fair sample (on a stopping crowd, 0.265 against a real 0.261
    for its best rater; `rater_noise_each` gave 0.165 before it weighed clips by what they
    say, and gives about the real value since). Measured, not what the platform uses:
    with about 90 pairs per rater it is noisy, and a rater it puts at
    the floor settles clips alone and adds no pair (`python -m bench.noise_stopping`,
    docs/benchmarks.md). Bias counts as noise; no rater is less noisy than `floor` times
    the pooled noise; raters in no pair get the pooled noise. Returns (n_raters, n_targets).
    """
    from scipy.sparse import coo_matrix, identity
    from scipy.sparse.linalg import spsolve

    clips, raters = np.asarray(clips, dtype=np.int64), np.asarray(raters, dtype=np.int64)
    order = np.asarray(order, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64).reshape(len(clips), -1)
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), values.shape[1:])
    n_clips = int(clips.max()) + 1 if clips.size else 0
    n_raters = int(raters.max()) + 1 if raters.size else 0
    out = np.tile(noise, (n_raters, 1))
    for t in range(values.shape[1]):
        if not np.isfinite(noise[t]):
            continue
        rated = np.isfinite(values[:, t])
        first_rater = np.full(n_clips, -1)
        first_value = np.zeros(n_clips)
        is_first = rated & (order == 0)
        first_rater[clips[is_first]] = raters[is_first]
        first_value[clips[is_first]] = values[is_first, t]
        second = rated & (order == 1)
        second &= first_rater[np.where(second, clips, 0)] >= 0
        if not second.any():
            continue
        a, b = first_rater[clips[second]], raters[second]
        squares = (first_value[clips[second]] - values[second, t]) ** 2
        n_pairs = len(squares)
        rows = np.repeat(np.arange(n_pairs), 2)
        design = coo_matrix(
            (np.ones(2 * n_pairs), (rows, np.column_stack([a, b]).ravel())),
            shape=(n_pairs, n_raters),
        ).tocsr()
        lhs = (design.T @ design + prior_strength * identity(n_raters)).tocsc()
        variance = spsolve(lhs, design.T @ squares + prior_strength * noise[t] ** 2)
        out[:, t] = np.sqrt(np.maximum(variance, (floor * noise[t]) ** 2))
    return out


def weighted_label(
    ratings: NDArray[np.float64], noise: NDArray[np.float64], *, prior_strength: float = 1.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A clip's label and its standard error, per target: the mean of its ratings, each
    weighted by 1 / noise^2 (`noise` per target for the crowd, or per rating and target
    for each rater's own).

    The clip's own spread, measured in units of each rating's noise, is shrunk toward
    the expected 1 (worth `prior_strength` ratings), so one or two ratings that happen
    to agree do not look certain and a contested clip looks as uncertain as it is. With
    one noise for all ratings this is the plain mean and the usual standard error.
    NaN ratings are left out.
    """
    ratings = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), ratings.shape)
    present = np.isfinite(ratings)
    weight = np.where(present, 1.0 / noise**2, 0.0)
    filled = np.where(present, ratings, 0.0)
    total = weight.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        label = (weight * filled).sum(axis=0) / total
        spread = (weight * (filled - label) ** 2).sum(axis=0)
        scale = (prior_strength + spread) / (prior_strength + present.sum(axis=0) - 1)
        return label, np.sqrt(scale / total)


def label_standard_error(
    ratings: NDArray[np.float64], noise: NDArray[np.float64], *, prior_strength: float = 1.0
) -> NDArray[np.float64]:
    """Standard error of a clip's label, per target (`weighted_label`)."""
    return weighted_label(ratings, noise, prior_strength=prior_strength)[1]


def settled_label_error(
    ratings: NDArray[np.float64], noise: NDArray[np.float64], *, prior_strength: float = 1.0
) -> NDArray[np.float64]:
    """The standard error of a clip's label as reported and used to measure models
    against it, per target: what its raters' noise alone allows
    (1 / sqrt(sum 1 / noise^2)), or more where its ratings disagree beyond that noise
    (`weighted_label`), never less. For normal errors a mean's error does not depend on
    how closely its ratings agree, and a clip stops getting raters when its first
    ratings happen to agree (`needs_another_rater`): read from that agreement, settled
    labels look surer than they are (on the demo crowd, 0.12 against a real 0.21)."""
    ratings = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    noise = np.broadcast_to(np.asarray(noise, dtype=np.float64), ratings.shape)
    present = np.isfinite(ratings)
    with np.errstate(divide="ignore"):
        from_noise = 1.0 / np.sqrt(np.where(present, 1.0 / noise**2, 0.0).sum(axis=0))
    return np.fmax(from_noise, label_standard_error(ratings, noise, prior_strength=prior_strength))


def needs_another_rater(
    ratings: NDArray[np.float64],
    noise: NDArray[np.float64],
    *,
    target_error: NDArray[np.float64] | float,
    max_raters: int,
) -> bool:
    """Sequential dynamic raters: ask one more while the clip's label is less certain than
    `target_error` (a standard error per target, e.g. the crowd's noise over sqrt(3)) on
    some target, up to `max_raters`. Clips people agree on stop early; contested ones get
    more ears."""
    if len(np.atleast_2d(ratings)) >= max_raters:
        return False
    return bool(np.any(label_standard_error(ratings, noise) > np.asarray(target_error)))


def clip_needs_another_rater(
    ratings: NDArray[np.float64],
    noise: NDArray[np.float64] | None,
    *,
    panel: int,
    max_raters: int,
    agreement: float,
    agreement_target: float,
    rater_noise: NDArray[np.float64] | None = None,
) -> bool:
    """Whether a clip that has the ratings it was meant to get should get one more.

    `ratings` is (n_ratings, n_targets), NaN where a rating lacks a target. `noise` is
    the crowd's rating noise per target (`rater_noise`); None, or NaN on a target, means
    unknown. When the noise of every target with ratings is known, one more rater is
    asked while the clip's label is less certain, on some target, than the mean of
    `panel` typical raters (`noise / sqrt(panel)`). `rater_noise`, (n_ratings,
    n_targets), gives each rating's rater's own noise (`rater_noise_each`): a rater
    known to be reliable can then settle a clip alone, and one known to be unreliable
    counts for little. Otherwise (cold start) the agreement rule decides: a second
    rating always (so the noise can be learnt), then one more while the clip's lowest
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
    own = noise if rater_noise is None else np.where(np.isfinite(rater_noise), rater_noise, noise)
    error = label_standard_error(ratings[:, rated], np.broadcast_to(own, ratings.shape)[:, rated])
    return bool(np.any(error > noise[rated] / np.sqrt(panel)))


def clip_label(
    ratings: NDArray[np.float64],
    *,
    crowd_noise: NDArray[np.float64],
    rater_noise: NDArray[np.float64] | None = None,
    reliability: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """A clip's label per target from its (n_ratings, n_targets) ratings, NaN where a
    rating lacks a target (and where no rating has it).

    Where the crowd's noise on a target is known, each rating is weighted by 1 / noise^2
    of its rater (`rater_noise`, (n_ratings, n_targets), NaN: not yet measured, so the
    crowd's; `weighted_label`). Where it is not, the evaluator weighted estimator by
    `reliability` (one per rating; None: the plain mean) decides (`ewe_gold`).
    """
    ratings = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    crowd = np.broadcast_to(np.asarray(crowd_noise, dtype=np.float64), ratings.shape[1:])
    own = np.full(ratings.shape, np.nan) if rater_noise is None else np.asarray(rater_noise)
    noise = np.where(np.isfinite(own), own, crowd[None, :])
    known = np.isfinite(crowd)
    label = np.full(ratings.shape[1], np.nan)
    if known.any():
        # On the whole table, so sums run in the same order for every caller; columns of
        # unknown noise come out NaN and are replaced below.
        label[known] = weighted_label(ratings, noise)[0][known]
    for t in np.flatnonzero(~known):
        rated = np.isfinite(ratings[:, t])
        if not rated.any():
            continue
        if reliability is None:
            label[t] = ratings[rated, t].mean()
        else:
            label[t] = ewe_gold(ratings[rated, t], np.asarray(reliability)[rated])
    return label


@dataclass(frozen=True)
class Settlement:
    """What a clip's ratings settle: per target its label, agreement and rating count
    (NaN / 0 where no rating has the target), and how many ratings it wants in all
    against the `n_ratings` it has."""

    labels: NDArray[np.float64]
    agreement: NDArray[np.float64]
    counts: NDArray[np.int64]
    n_ratings: int
    ratings_wanted: int

    @property
    def needs_humans(self) -> bool:
        return self.n_ratings < self.ratings_wanted


def settle_clip(
    ratings: NDArray[np.float64],
    *,
    scale_min: NDArray[np.float64],
    scale_max: NDArray[np.float64],
    crowd_noise: NDArray[np.float64],
    rater_noise: NDArray[np.float64] | None = None,
    reliability: NDArray[np.float64] | None = None,
    ratings_wanted: int,
    panel: int,
    max_raters: int,
    agreement_target: float,
    active_leases: int = 0,
) -> Settlement:
    """A clip's labels from its (n_ratings, n_targets) ratings (`clip_label`), its
    per-target agreement (`clip_agreement`), and how many ratings it wants.

    A clip with fewer ratings than `ratings_wanted` (what it was started with) keeps
    wanting them. Once it has them, it wants one more while `clip_needs_another_rater`
    says so (its label less certain than a `panel`-rater mean, or, while the noise is
    unknown, its lowest agreement below `agreement_target`), never beyond `max_raters`.
    It never wants fewer than the `active_leases` handed out on it (they are not taken
    back). Safe to call again with the same ratings: the result is the same.
    """
    ratings = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    n_ratings, n_targets = ratings.shape
    scale_min = np.broadcast_to(np.asarray(scale_min, dtype=np.float64), (n_targets,))
    scale_max = np.broadcast_to(np.asarray(scale_max, dtype=np.float64), (n_targets,))
    crowd = np.broadcast_to(np.asarray(crowd_noise, dtype=np.float64), (n_targets,))
    present = np.isfinite(ratings)
    counts = present.sum(axis=0)
    rated = counts > 0
    agreement = np.full(n_targets, np.nan)
    for t in np.flatnonzero(rated):
        agreement[t] = clip_agreement(
            ratings[present[:, t], t], scale_min=scale_min[t], scale_max=scale_max[t]
        )
    labels = clip_label(
        ratings, crowd_noise=crowd, rater_noise=rater_noise, reliability=reliability
    )
    wanted = ratings_wanted
    if n_ratings >= wanted and rated.any():
        own = None if rater_noise is None else np.asarray(rater_noise)[:, rated]
        more = clip_needs_another_rater(
            ratings[:, rated],
            crowd[rated],
            panel=panel,
            max_raters=max_raters,
            agreement=float(agreement[rated].min()),
            agreement_target=agreement_target,
            rater_noise=own,
        )
        wanted = n_ratings + 1 if more else n_ratings
    return Settlement(
        labels=labels,
        agreement=agreement,
        counts=counts.astype(np.int64),
        n_ratings=n_ratings,
        ratings_wanted=max(wanted, active_leases),
    )


@dataclass(frozen=True)
class CrowdEstimates:
    """What a project's ratings say about its raters, per target t and rater r.

    `noise[t]` is the crowd's noise (NaN below `MIN_NOISE_CLIPS` clips rated twice, the
    count in `noise_clips[t]`); `rater_noise[r, t]` each rater's own (NaN while the
    crowd's is unknown) on `rater_noise_clips[r, t]` clips shared with someone;
    `reliability[r]` the leave-one-out agreement averaged over targets (NaN: unknown)
    on `reliability_clips[r]` clips the rater shares with at least one other rater.
    """

    noise: NDArray[np.float64]
    noise_clips: NDArray[np.int64]
    rater_noise: NDArray[np.float64]
    rater_noise_clips: NDArray[np.int64]
    reliability: NDArray[np.float64]
    reliability_clips: NDArray[np.int64]


def crowd_estimates(table: NDArray[np.float64]) -> CrowdEstimates:
    """Noise and reliability of a crowd from its (n_clips, n_raters, n_targets) rating
    table, NaN where a rater did not rate a clip on a target
    (`rater_noise`, `rater_noise_each`, `learner.agreement.rater_reliability`)."""
    table = np.asarray(table, dtype=np.float64)
    _, n_raters, n_targets = table.shape
    noise = np.full(n_targets, np.nan)
    noise_clips = np.zeros(n_targets, dtype=np.int64)
    own = np.full((n_raters, n_targets), np.nan)
    own_clips = np.zeros((n_raters, n_targets), dtype=np.int64)
    reliability = np.full((n_targets, n_raters), np.nan)
    for t in range(n_targets):
        values = table[:, :, t]
        present = ~np.isnan(values)
        multi = present.sum(axis=1) >= 2
        noise_clips[t] = int(multi.sum())
        reliability[t] = rater_reliability(values)
        if noise_clips[t] < MIN_NOISE_CLIPS:
            continue
        rows = zip(values[multi], present[multi], strict=True)
        clips = [row[keep][:, None] for row, keep in rows]
        noise[t] = float(rater_noise(clips)[0])
        clip_index, rater_index = np.nonzero(present)
        each = rater_noise_each(
            clip_index, rater_index, values[clip_index, rater_index][:, None], [noise[t]]
        )[:, 0]
        own[:, t] = np.pad(each, (0, n_raters - each.size), constant_values=noise[t])
        own_clips[:, t] = (present & multi[:, None]).sum(axis=0)
    # A clip counts for a rater's reliability when someone else rated it too.
    rated = ~np.all(np.isnan(table), axis=2)
    shared = (rated & (rated.sum(axis=1, keepdims=True) >= 2)).sum(axis=0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # raters unknown on every target
        mean_reliability = np.nanmean(reliability, axis=0)
    return CrowdEstimates(
        noise=noise,
        noise_clips=noise_clips,
        rater_noise=own,
        rater_noise_clips=own_clips,
        reliability=mean_reliability,
        reliability_clips=shared.astype(np.int64),
    )
