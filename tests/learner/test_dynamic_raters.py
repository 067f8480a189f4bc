import numpy as np
import pytest

from learner.raters import (
    MIN_NOISE_CLIPS,
    clip_label,
    clip_needs_another_rater,
    crowd_estimates,
    human_label_error,
    label_standard_error,
    needs_another_rater,
    rater_noise,
    rater_noise_each,
    rater_noise_from_pairs,
    settle_clip,
    settled_label_error,
    weighted_label,
)


def test_rater_noise_is_the_pooled_within_clip_spread():
    rng = np.random.default_rng(0)
    truth = rng.uniform(-0.5, 0.5, size=(400, 1, 2))
    ratings = truth + rng.normal(scale=[0.2, 0.1], size=(400, 3, 2))
    noise = rater_noise([*ratings, ratings[0, :1]])  # a lone rating is ignored
    np.testing.assert_allclose(noise, [0.2, 0.1], rtol=0.08)
    assert np.isnan(rater_noise([np.zeros((1, 2))])).all()


def test_a_single_rating_is_as_uncertain_as_the_crowd():
    noise = np.array([0.2])
    assert label_standard_error(np.array([[0.3]]), noise) == pytest.approx(noise)
    agreeing = label_standard_error(np.array([[0.3], [0.31], [0.29]]), noise)
    split = label_standard_error(np.array([[0.6], [-0.4], [0.1]]), noise)
    assert agreeing < noise / np.sqrt(3) < split


def test_raters_are_added_only_while_they_disagree():
    noise = np.array([0.2, 0.2])
    target = noise / np.sqrt(3)
    one = np.array([[0.1, 0.0]])
    agree = np.array([[0.1, 0.0], [0.12, 0.02]])
    disagree = np.array([[0.1, 0.0], [0.7, -0.6]])
    assert needs_another_rater(one, noise, target_error=target, max_raters=5)
    assert not needs_another_rater(agree, noise, target_error=target, max_raters=5)
    assert needs_another_rater(disagree, noise, target_error=target, max_raters=5)
    assert not needs_another_rater(disagree, noise, target_error=target, max_raters=2)


def settle(ratings, noise, *, panel=3, max_raters=5, agreement=1.0, agreement_target=0.7):
    return clip_needs_another_rater(
        np.array(ratings, dtype=np.float64),
        noise,
        panel=panel,
        max_raters=max_raters,
        agreement=agreement,
        agreement_target=agreement_target,
    )


def test_known_noise_asks_a_rater_while_the_label_is_less_certain_than_the_panel():
    noise = np.array([0.2, 0.2])
    agree, disagree = [[0.5, 0.0], [0.52, 0.01]], [[-0.3, 0.0], [0.3, 0.0]]
    # The agreement passed in is ignored once the noise is known.
    assert not settle(agree, noise, agreement=0.0)
    assert settle(disagree, noise, agreement=1.0)
    assert settle(agree, noise, panel=8)  # a larger panel wants more certainty
    assert not settle(disagree, noise, max_raters=2)
    assert settle([[0.5, 0.0]], noise)
    assert not settle([[0.5, 0.0]], noise, panel=1)
    for ratings in (agree, disagree, [[0.5, 0.0]]):
        for panel, max_raters in ((1, 5), (3, 5), (3, 3), (5, 4)):
            assert settle(
                ratings, noise, panel=panel, max_raters=max_raters
            ) == needs_another_rater(
                np.array(ratings), noise, target_error=noise / np.sqrt(panel), max_raters=max_raters
            )


def test_unknown_noise_falls_back_to_the_agreement_rule():
    disagree = [[-0.3, 0.0], [0.3, 0.0]]
    for noise in (None, np.array([0.2, np.nan]), [None, 0.2]):
        assert settle(disagree, noise, agreement=0.5, agreement_target=0.7)
        assert not settle(disagree, noise, agreement=0.8, agreement_target=0.7)
        assert not settle(disagree, noise, agreement=0.5, max_raters=2)
        # One rating, however it agrees with itself: a second one, so noise can be learnt.
        assert settle([[0.5, 0.0]], noise, agreement=1.0)
        assert not settle([[0.5, 0.0]], noise, agreement=1.0, max_raters=1)
    assert settle(np.empty((0, 2)), np.array([0.2, 0.2]))


def test_missing_values_count_per_target_and_unrated_targets_need_no_noise():
    noise = np.array([0.2, np.nan])
    # Valence never rated on this clip: its unknown noise does not matter.
    assert not settle([[0.5, np.nan], [0.52, np.nan]], noise, agreement=0.0)
    # Arousal rated once only: as uncertain as one rater, so one more is asked.
    assert settle([[0.5, 0.0], [np.nan, 0.0]], np.array([0.2, 0.2]))


def test_at_panel_one_a_single_rating_is_enough():
    for noise in (0.1, 0.3, 0.7, 0.2857):
        assert not clip_needs_another_rater(
            np.array([[0.4]]),
            np.array([noise]),
            panel=1,
            max_raters=4,
            agreement=1.0,
            agreement_target=0.7,
        )


def crowd_ratings(n_clips=300, per_clip=3, seed=0):
    """Long-form ratings of a crowd of 20: raters 0-2 unreliable (biased and noisy)."""
    rng = np.random.default_rng(seed)
    sd = np.where(np.arange(20) < 3, 0.6, 0.1)
    bias = np.where(np.arange(20) < 3, 0.3, 0.0)
    truth = rng.uniform(-0.5, 0.5, n_clips)
    clips = np.repeat(np.arange(n_clips), per_clip)
    raters = np.concatenate([rng.permutation(20)[:per_clip] for _ in range(n_clips)])
    values = truth[clips] + bias[raters] + rng.normal(0, sd[raters])
    return clips, raters, values[:, None]


def test_each_raters_noise_is_learnt_from_shared_clips():
    clips, raters, values = crowd_ratings()
    pooled = rater_noise([values[clips == c] for c in range(clips.max() + 1)])
    each = rater_noise_each(clips, raters, values, pooled)[:, 0]
    # Unreliable raters' bias counts as noise: their error is about sqrt(0.6^2 + 0.3^2).
    assert np.all(each[:3] > 0.5)
    assert np.all(each[:3] < 0.85)
    # Reliable ones (0.1) come out near it, shrunk toward the crowd's noise and never
    # below a third of it; every one of them well apart from every unreliable one.
    assert np.all(each[3:] >= pooled[0] / 3 - 1e-12)
    assert np.median(each[3:]) < 0.15
    assert each[3:].max() < each[:3].min() / 2
    # Someone with no shared clip keeps the crowd's noise.
    lone = rater_noise_each([*clips, clips.max() + 1], [*raters, 20], [*values, [0.0]], pooled)
    assert lone[20, 0] == pytest.approx(pooled[0])


def sequential_crowd(seed, n_clips=300):
    """A demo-like crowd (SD 0.28-0.70) rating truths in [-0.9, 0.9] on a [-1, 1] scale,
    one more rater while the clip's ratings disagree: long-form ratings (clip, rater,
    value, rank within the clip) and truths."""
    rng = np.random.default_rng(seed)
    clips, raters, values, order = [], [], [], []
    truth = rng.uniform(-0.9, 0.9, n_clips)
    for clip, true in enumerate(truth):
        given = []
        for rater in rng.permutation(SEQUENTIAL_SD.size):
            given.append(float(np.clip(true + SEQUENTIAL_SD[rater] * rng.normal(), -1, 1)))
            clips.append(clip)
            raters.append(rater)
            values.append(given[-1])
            order.append(len(given) - 1)
            if len(given) >= 2 and not needs_another_rater(
                np.array(given)[:, None],
                np.array([0.41]),
                target_error=0.41 / np.sqrt(3),
                max_raters=SEQUENTIAL_SD.size,
            ):
                break
    return np.array(clips), np.array(raters), np.array(values)[:, None], np.array(order), truth


SEQUENTIAL_SD = np.array([0.28, 0.31, 0.34, 0.36, 0.40, 0.70])


def test_each_raters_noise_and_labels_errors_come_out_right_under_stopping():
    # Clips whose first ratings agree stop early. Each shared clip weighs by how much it
    # says about the rater (a clip shared with noisy raters says little about a careful
    # one): each rater's noise then comes out near their real error and labels' errors
    # near theirs. With every clip counting alike (as before), the careful raters came
    # out low and labels surer than they are. Calibrated, the noises' mean variance per
    # shared rating is the pooled noise^2.
    real_label, reported, reported_unweighted = [], [], []
    rater_error, rater_error_unweighted = [], []
    for seed in range(8):
        clips, raters, values, _, truth = sequential_crowd(seed)
        by_clip = [clips == c for c in range(truth.size)]
        pooled = rater_noise([values[m] for m in by_clip])
        each = rater_noise_each(clips, raters, values, pooled)[:, 0]
        unweighted = rater_noise_each(clips, raters, values, pooled, weighted=False)[:, 0]
        shared = np.bincount(raters)
        assert np.dot(shared, each**2) / shared.sum() == pytest.approx(pooled[0] ** 2)
        assert np.argmax(each) == 5  # the careless rater stays the noisiest
        squares = (values[:, 0] - truth[clips]) ** 2
        real = np.sqrt(np.bincount(raters, squares) / shared)
        rater_error.append(each / real - 1)
        rater_error_unweighted.append(unweighted / real - 1)
        for noise, out in ((each, reported), (unweighted, reported_unweighted)):
            errors = [settled_label_error(values[m], noise[raters[m]][:, None])[0] for m in by_clip]
            out.append(np.sqrt(np.mean(np.square(errors))))
        labels = [weighted_label(values[m], each[raters[m]][:, None])[0][0] for m in by_clip]
        real_label.append(np.sqrt(np.mean(np.square(np.array(labels) - truth))))
    assert np.all(np.abs(np.mean(rater_error, axis=0)) < 0.08)
    assert np.mean(rater_error_unweighted, axis=0)[0] < -0.1  # the most careful rater
    real = np.mean(real_label)
    assert np.mean(reported) == pytest.approx(real, rel=0.05)
    assert np.mean(reported_unweighted) < 0.95 * real


def test_each_raters_noise_from_first_pairs_is_fair_under_stopping():
    # The first two ratings of a clip come before any stopping decision: from them each
    # rater's noise comes out near the truth, as it does from the distance to the others'
    # mean on every shared clip weighted by what the clip says (and not unweighted).
    from_pairs, from_each, from_unweighted, real = [], [], [], []
    for seed in range(3):
        clips, raters, values, order, truth = sequential_crowd(seed, n_clips=600)
        # Each rater's real error, clipping to the scale included (the careless rater's
        # 0.70 is about 0.58 once clipped).
        squares = (values[:, 0] - truth[clips]) ** 2
        real.append(np.sqrt(np.bincount(raters, squares) / np.bincount(raters)))
        pooled = rater_noise([values[clips == c] for c in range(truth.size)])
        from_pairs.append(rater_noise_from_pairs(clips, raters, values, order, pooled)[:, 0])
        from_each.append(rater_noise_each(clips, raters, values, pooled, calibrate=False)[:, 0])
        from_unweighted.append(
            rater_noise_each(clips, raters, values, pooled, calibrate=False, weighted=False)[:, 0]
        )
    pairs, each = np.mean(from_pairs, axis=0), np.mean(from_each, axis=0)
    real = np.mean(real, axis=0)
    np.testing.assert_allclose(pairs, real, rtol=0.1)
    np.testing.assert_allclose(each, real, rtol=0.1)
    assert np.all(np.mean(from_unweighted, axis=0)[:5] < 0.95 * real[:5])
    # Ratings beyond the second, and ratings of clips nobody else rated, change nothing.
    clips, raters, values, order, _ = sequential_crowd(0)
    pooled = [0.4]
    first_two = order < 2
    np.testing.assert_allclose(
        rater_noise_from_pairs(clips, raters, values, order, pooled),
        rater_noise_from_pairs(
            [*clips[first_two], clips.max() + 1],
            [*raters[first_two], 0],
            [*values[first_two], [0.9]],
            [*order[first_two], 0],
            pooled,
        ),
    )


def test_a_rater_who_never_rates_first_or_second_keeps_the_pooled_noise():
    clips, raters, values, order, _ = sequential_crowd(0)
    # Rater 6 rates every clip third.
    n = clips.max() + 1
    clips = np.concatenate([clips, np.arange(n)])
    raters = np.concatenate([raters, np.full(n, 6)])
    values = np.concatenate([values, np.zeros((n, 1))])
    order = np.concatenate([order, np.full(n, 9)])
    noise = rater_noise_from_pairs(clips, raters, values, order, [0.9])
    assert noise[6, 0] == pytest.approx(0.9)
    assert np.all(noise[:6, 0] < 0.8)


def test_a_label_weights_each_rating_by_its_raters_noise():
    ratings = np.array([[0.2], [0.3], [-0.6]])
    # One noise for everyone: the plain mean and the usual standard error.
    label, error = weighted_label(ratings, np.array([0.2]))
    assert label == pytest.approx(ratings.mean())
    assert error == pytest.approx(label_standard_error(ratings, np.array([0.2])))
    # The third rater is known to be unreliable: the label follows the other two.
    label, error = weighted_label(ratings, np.array([[0.1], [0.1], [0.6]]))
    assert 0.2 < label[0] < 0.3
    # NaN ratings are left out.
    label, _ = weighted_label(np.array([[0.2, np.nan], [0.4, 0.1]]), np.array([0.2, 0.2]))
    np.testing.assert_allclose(label, [0.3, 0.1])


def test_a_reliable_rater_settles_a_clip_alone_and_an_unreliable_one_does_not():
    noise = np.array([0.3])
    one = [[0.4]]
    assert settle(one, noise)  # a rater of unknown quality: ask more
    for own, more in ((0.1, False), (0.6, True), (np.nan, True)):
        assert (
            clip_needs_another_rater(
                np.array(one),
                noise,
                panel=3,
                max_raters=5,
                agreement=1.0,
                agreement_target=0.7,
                rater_noise=np.array([[own]]),
            )
            is more
        )


def test_a_human_labels_error_is_that_of_a_panel_mean_on_the_least_noisy_target():
    rng = np.random.default_rng(2)
    panels = rng.normal(0.0, 0.3, size=(20000, 3)).mean(axis=1)
    assert human_label_error([0.3, np.nan, 0.5], 3) == pytest.approx(
        np.abs(panels).mean(), rel=0.02
    )
    assert human_label_error([np.nan, np.nan], 3) is None


def test_clip_label_weights_by_noise_where_known_and_by_reliability_where_not():
    ratings = np.array([[0.5, 0.4], [-0.5, -0.2]])
    label = clip_label(
        ratings,
        crowd_noise=np.array([0.3, np.nan]),
        rater_noise=np.array([[0.1, np.nan], [0.6, np.nan]]),
        reliability=np.array([1.0, 3.0]),
    )
    assert label[0] == pytest.approx((36 * 0.5 - 0.5) / 37)  # 1/0.1^2 against 1/0.6^2
    assert label[1] == pytest.approx((0.4 - 3 * 0.2) / 4)  # EWE
    plain = clip_label(ratings, crowd_noise=np.full(2, np.nan))
    np.testing.assert_allclose(plain, ratings.mean(axis=0))


def test_settle_clip_keeps_wanting_its_raters_then_asks_while_they_disagree():
    def settle_it(ratings, **kwargs):
        options = {
            "scale_min": -1.0,
            "scale_max": 1.0,
            "crowd_noise": np.array([0.2, 0.2]),
            "ratings_wanted": 2,
            "panel": 3,
            "max_raters": 5,
            "agreement_target": 0.7,
        }
        return settle_clip(np.array(ratings, dtype=float), **{**options, **kwargs})

    one = settle_it([[0.5, 0.0]])
    assert one.ratings_wanted == 2
    assert one.needs_humans
    agree = settle_it([[0.5, 0.0], [0.52, 0.01]])
    assert agree.ratings_wanted == 2
    assert not agree.needs_humans
    np.testing.assert_allclose(agree.labels, [0.51, 0.005])
    assert list(agree.counts) == [2, 2]
    assert 0.9 < agree.agreement.min() <= 1.0
    split = settle_it([[-0.5, 0.0], [0.5, 0.0]])
    assert split.ratings_wanted == 3
    assert split.needs_humans
    assert settle_it([[-0.5, 0.0], [0.5, 0.0]], max_raters=2).ratings_wanted == 2
    # Leases out on it are never taken back.
    assert settle_it([[0.5, 0.0], [0.52, 0.01]], active_leases=4).ratings_wanted == 4
    # Cold start: the agreement rule.
    cold = settle_it([[-0.5, 0.0], [0.5, 0.0]], crowd_noise=np.full(2, np.nan))
    assert cold.ratings_wanted == 3
    # A target nobody rated has no label and needs no noise.
    partial = settle_it([[0.5, np.nan], [0.52, np.nan]], crowd_noise=np.array([0.2, np.nan]))
    assert np.isnan(partial.labels[1])
    assert partial.counts[1] == 0
    assert not partial.needs_humans


def test_crowd_estimates_measure_noise_reliability_and_shared_clips():
    rng = np.random.default_rng(3)
    n_clips = 3 * MIN_NOISE_CLIPS
    truth = rng.uniform(-0.5, 0.5, size=(n_clips, 1, 2))
    sd = np.array([0.05, 0.05, 0.3])[None, :, None]
    table = np.clip(truth + rng.normal(size=(n_clips, 3, 2)) * sd, -1, 1)
    table = np.concatenate([table, np.full((5, 3, 2), np.nan)])
    table[n_clips:, 0] = 0.1  # five clips only the first rater rated
    estimates = crowd_estimates(table)
    assert np.all(np.isfinite(estimates.noise))
    assert list(estimates.noise_clips) == [n_clips, n_clips]
    assert np.all(estimates.rater_noise[2] > 2 * estimates.rater_noise[0])
    assert list(estimates.reliability_clips) == [n_clips] * 3
    assert estimates.reliability[0] > estimates.reliability[2]
    few = crowd_estimates(table[:3])
    assert np.isnan(few.noise).all()
    assert np.isnan(few.rater_noise).all()
