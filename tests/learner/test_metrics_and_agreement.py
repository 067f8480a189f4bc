import audmetric
import audpsychometric
import numpy as np
import pytest

from learner.agreement import clip_agreement, ewe_gold, rater_reliability
from learner.metrics import ccc, rank_correlation


def ewe_of_table(table, reliabilities):
    return np.array([ewe_gold(row[~np.isnan(row)], reliabilities[~np.isnan(row)]) for row in table])


@pytest.mark.parametrize("seed", range(5))
def test_ccc_matches_audmetric_on_random_data(seed):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=200)
    pred = 0.7 * truth + rng.normal(scale=0.5, size=200) + 0.3
    assert ccc(truth, pred) == pytest.approx(audmetric.concordance_cc(truth, pred), abs=1e-9)


def test_ccc_properties():
    x = np.linspace(-1, 1, 50)
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, x + 0.5) < ccc(x, x)
    assert ccc(x, 2 * x) < 1.0
    assert ccc(x, -x) == pytest.approx(-1.0)
    assert rank_correlation(x, x**3) == pytest.approx(1.0)
    assert np.isnan(rank_correlation(x, np.zeros(50)))


def test_clip_agreement_matches_audpsychometric():
    values = [0.1, 0.5, -0.2, 0.3]
    expected = audpsychometric.agreement_numerical(values, -1, 1)
    assert clip_agreement(values, scale_min=-1, scale_max=1) == pytest.approx(expected)
    assert clip_agreement([0.4], scale_min=-1, scale_max=1) == 1.0
    assert clip_agreement([-1, 1], scale_min=-1, scale_max=1) == 0.0


def test_reliability_and_ewe_match_audpsychometric_on_a_complete_table():
    rng = np.random.default_rng(0)
    truth = rng.uniform(-1, 1, 40)
    table = np.column_stack([truth + rng.normal(scale=s, size=40) for s in (0.05, 0.2, 0.6)])
    ours = rater_reliability(table, prior_strength=0)
    theirs = np.clip(audpsychometric.rater_agreement(table), 0, None)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    np.testing.assert_allclose(
        ewe_of_table(table, ours), audpsychometric.evaluator_weighted_estimator(table), atol=1e-9
    )


def sparse_crowd(seed=1, n_clips=150, noise=(0.1, 0.1, 0.15, 0.15, 0.2, 1.0, 1.2), per_clip=3):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(-0.8, 0.8, n_clips)
    table = np.full((n_clips, len(noise)), np.nan)
    for i in range(n_clips):
        for k in rng.choice(len(noise), per_clip, replace=False):
            table[i, k] = np.clip(truth[i] + rng.normal(scale=noise[k]), -1, 1)
    return truth, table


def test_reliability_ranks_good_raters_above_bad_ones_on_sparse_tables():
    _, table = sparse_crowd()
    reliability = rater_reliability(table)
    assert reliability[:5].min() > reliability[5:].max()


def test_ewe_gold_beats_mean_gold_with_unreliable_raters():
    truth, table = sparse_crowd(seed=2)
    reliability = rater_reliability(table)
    ewe_error = np.mean(np.abs(ewe_of_table(table, reliability) - truth))
    mean_error = np.mean(np.abs(np.nanmean(table, axis=1) - truth))
    assert ewe_error < 0.85 * mean_error


def test_few_shared_clips_give_unknown_reliability():
    table = np.array([[0.1, 0.2], [0.3, np.nan], [np.nan, 0.1]])
    assert np.isnan(rater_reliability(table)).all()
