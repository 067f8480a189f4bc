import numpy as np
import pytest

from learner.online import RidgeEnsemble, farthest_first, top_uncertain
from learner.ridge import ridge


def make_data(n=300, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.column_stack([X[:, 0] - 0.5 * X[:, 1], 0.3 * X[:, 2]]) + 0.05 * rng.normal(size=(n, 2))
    return X, y


def test_ensemble_learns_a_linear_relation():
    X, y = make_data()
    scores = RidgeEnsemble(alpha=1.0).fit(X[:200], y[:200]).score_pool(X[200:])
    assert scores.prediction.shape == (100, 2)
    assert np.corrcoef(scores.prediction[:, 0], y[200:, 0])[0, 1] > 0.95


def test_spread_is_larger_far_from_the_training_data():
    X, y = make_data()
    model = RidgeEnsemble(n_members=8, random_state=1).fit(X, y)
    near = model.score_pool(X[:50]).uncertainty().mean()
    far = model.score_pool(X[:50] * 10).uncertainty().mean()
    assert far > 3 * near


def test_missing_targets_are_ignored():
    X, y = make_data()
    y[::2, 1] = np.nan
    scores = RidgeEnsemble().fit(X, y).score_pool(X)
    assert np.isfinite(scores.prediction).all()


def test_deterministic_under_a_seed():
    X, y = make_data()
    a = RidgeEnsemble(random_state=3).fit(X, y).score_pool(X).prediction
    b = RidgeEnsemble(random_state=3).fit(X, y).score_pool(X).prediction
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("weighted", [False, True])
def test_ridge_dual_form_matches_primal_when_features_outnumber_samples(weighted):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 50))
    y = X[:, 0] + 0.1 * rng.normal(size=20)
    w = rng.uniform(0.2, 2.0, 20) if weighted else np.ones(20)
    coef, intercept = ridge(X, y, 2.0, w if weighted else None)
    # The primal solution of the weighted problem, written out.
    x_mean, y_mean = np.average(X, axis=0, weights=w), np.average(y, weights=w)
    W = np.diag(w / w.mean())
    Z = X - x_mean
    primal = np.linalg.solve(Z.T @ W @ Z + 2.0 * np.eye(50), Z.T @ W @ (y - y_mean))
    np.testing.assert_allclose(coef, primal, atol=1e-8)
    assert intercept == pytest.approx(y_mean - x_mean @ primal, abs=1e-8)


@pytest.mark.parametrize("shape", [(300, 12), (20, 50)])
def test_ridge_unweighted_is_the_case_of_equal_weights(shape):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=shape), rng.normal(size=shape[0])
    coef, intercept = ridge(X, y, 10.0)
    for w in (np.ones(shape[0]), np.full(shape[0], 0.3)):
        weighted_coef, weighted_intercept = ridge(X, y, 10.0, w)
        np.testing.assert_allclose(coef, weighted_coef, rtol=0, atol=1e-12)
        assert intercept == pytest.approx(weighted_intercept, abs=1e-12)


def test_ensemble_members_are_ridge_fits_of_bootstrap_samples():
    X, y = make_data()
    model = RidgeEnsemble(n_members=2, alpha=3.0, random_state=7).fit(X, y)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    sample = np.random.RandomState(7).randint(0, len(X), len(X))
    coef, intercept = ridge(Z[sample], y[sample, 0], 3.0)
    np.testing.assert_array_equal(model.coef_[0, 0], coef)
    assert model.intercept_[0, 0] == intercept


@pytest.mark.parametrize("budget", [0, 1, 5, 100])
def test_top_uncertain_orders_by_uncertainty(budget):
    u = np.array([0.1, 0.9, 0.5, 0.7, 0.2])
    top = top_uncertain(u, budget)
    assert list(top) == [1, 3, 2, 4, 0][: min(budget, 5)]


def test_farthest_first_covers_the_gaps_the_labels_leave():
    line = np.arange(11.0)[:, None]  # candidates at 0, 1, ..., 10
    # Labelled at 0: first the far end, then the middle, then the quarter points.
    assert list(farthest_first(line, np.array([[0.0]]), 4)) == [10, 5, 2, 7]
    # With nothing labelled it starts anywhere, and never picks a clip twice.
    picks = farthest_first(line, np.empty((0, 1)), 11)
    assert sorted(picks) == list(range(11))
    assert farthest_first(line, np.array([[0.0]]), 0).size == 0


def test_only_raters_proven_unreliable_are_served_easy_clips():
    from learner.raters import needs_more_ratings, serve_easy_first

    assert serve_easy_first(reliability=0.1, n_shared=30)
    assert not serve_easy_first(reliability=0.1, n_shared=3)  # too little evidence yet
    assert not serve_easy_first(reliability=0.8, n_shared=30)
    kwargs = {"min_raters": 2, "max_raters": 4, "agreement_target": 0.7}
    assert needs_more_ratings(n_ratings=1, agreement=1.0, **kwargs)
    assert needs_more_ratings(n_ratings=2, agreement=0.5, **kwargs)
    assert not needs_more_ratings(n_ratings=2, agreement=0.8, **kwargs)
    assert not needs_more_ratings(n_ratings=4, agreement=0.1, **kwargs)
