import numpy as np
import pytest

from learner.raters import label_standard_error, needs_another_rater, rater_noise


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
