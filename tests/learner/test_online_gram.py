"""The online ensemble's Gram-matrix solver gives the members the per-member solver gives."""

import numpy as np
import pytest

from learner.cooperative import online_queue
from learner.online import GRAM_MIN_FEATURES, RidgeEnsemble
from learner.ridge import GramRidge


def wide(n=60, d=600, seed=0, n_open=80):
    """Fewer clips than features, features on different scales and offsets, two targets
    with missing labels."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n + n_open, 5))
    X = latent @ rng.normal(size=(5, d)) + rng.normal(size=(n + n_open, d))
    X = X * rng.uniform(0.1, 10.0, d) + rng.normal(scale=50.0, size=d)
    y = np.tanh(0.5 * latent[:n, :2]) + 0.05 * rng.normal(size=(n, 2))
    y[::5, 1] = np.nan
    return X[:n], y, X[n:]


def primal(Z, y, alpha):
    """The ridge minimiser from its d x d normal equations, the intercept unpenalised."""
    z_mean, y_mean = Z.mean(axis=0), y.mean()
    Zc = Z - z_mean
    coef = np.linalg.solve(Zc.T @ Zc + alpha * np.eye(Z.shape[1]), Zc.T @ (y - y_mean))
    return coef, y_mean - z_mean @ coef


@pytest.mark.parametrize(("n", "d"), [(30, 80), (80, 10)])
def test_gram_ridge_of_a_bootstrap_sample_is_the_primal_ridge_of_the_repeated_rows(n, d):
    rng = np.random.default_rng(2)
    Z, y = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d), rng.normal(size=n)
    gram = GramRidge(Z)
    for alpha in (0.1, 10.0):
        draw = rng.integers(0, n, n)
        counts = np.bincount(draw, minlength=n)
        rows = np.flatnonzero(counts)
        weights, intercept = gram.solve(rows, counts[rows].astype(float), y[rows], alpha)
        coef, expected_intercept = primal(Z[draw], y[draw], alpha)
        np.testing.assert_allclose(Z[rows].T @ weights, coef, rtol=0, atol=1e-8)
        assert intercept == pytest.approx(expected_intercept, abs=1e-8)


def test_gram_ridge_of_one_row_predicts_its_label():
    Z = np.random.default_rng(0).normal(size=(5, 20))
    weights, intercept = GramRidge(Z).solve(np.array([3]), np.array([4.0]), np.array([0.7]), 1.0)
    assert np.all(weights == 0)
    assert intercept == pytest.approx(0.7)


@pytest.mark.parametrize(("n", "d"), [(60, 600), (200, 12)])
def test_gram_solver_gives_the_members_and_scores_of_the_per_member_solver(n, d):
    X, y, X_open = wide(n, d)
    X[:, 7] = 3.0  # a constant feature: centred, never divided by zero
    X_open[:, 7] = 3.0
    exact = RidgeEnsemble(random_state=4, solver="ridge").fit(X, y)
    fast = RidgeEnsemble(random_state=4, solver="gram").fit(X, y)
    assert (exact.solver_, fast.solver_) == ("ridge", "gram")
    np.testing.assert_allclose(fast.coef_, exact.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fast.intercept_, exact.intercept_, rtol=0, atol=1e-8)
    a, b = exact.score_pool(X_open), fast.score_pool(X_open)
    np.testing.assert_allclose(b.prediction, a.prediction, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b.spread, a.spread, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(np.argsort(b.uncertainty()), np.argsort(a.uncertainty()))


def test_a_target_without_labels_stays_missing_with_the_gram_solver():
    X, y, X_open = wide()
    y[:, 1] = np.nan
    scores = RidgeEnsemble(solver="gram").fit(X, y).score_pool(X_open)
    assert np.isnan(scores.prediction[:, 1]).all()
    assert np.isfinite(scores.uncertainty()).all()


def test_auto_shares_the_gram_matrix_only_with_many_features_and_few_clips():
    X, y, _ = wide(n=60, d=GRAM_MIN_FEATURES + 1)
    assert RidgeEnsemble().fit(X, y).solver_ == "gram"
    assert RidgeEnsemble().fit(X[:, :143], y).solver_ == "ridge"
    X, y, _ = wide(n=GRAM_MIN_FEATURES + 10, d=GRAM_MIN_FEATURES + 1, n_open=0)
    assert RidgeEnsemble(n_members=1).fit(X, y[:, 0]).solver_ == "ridge"


def test_an_unknown_solver_is_refused():
    X, y, _ = wide(n=20, d=5)
    with pytest.raises(ValueError, match="solver"):
        RidgeEnsemble(solver="svd").fit(X, y)


def test_online_queue_at_143_features_is_the_per_member_queue_to_the_bit():
    X, y, X_open = wide(n=100, d=143, n_open=300)
    auto = online_queue(X, y, X_open, budget=20)
    exact = online_queue(X, y, X_open, budget=20, solver="ridge")
    np.testing.assert_array_equal(auto.uncertainty, exact.uncertainty)
    np.testing.assert_array_equal(auto.queued, exact.queued)


def test_online_queue_at_high_dimension_queues_what_the_per_member_solver_queues():
    X, y, X_open = wide(n=80, d=1500, n_open=300)
    auto = online_queue(X, y, X_open, budget=30)
    exact = online_queue(X, y, X_open, budget=30, solver="ridge")
    np.testing.assert_allclose(auto.uncertainty, exact.uncertainty, rtol=1e-8, atol=0)
    np.testing.assert_array_equal(auto.queued, exact.queued)


def test_at_high_dimension_the_queue_learns_from_fewer_labelled_clips_than_features(
    monkeypatch,
):
    """More labelled clips than features would take the members' full d x d solves."""
    d = GRAM_MIN_FEATURES + 8
    rng = np.random.default_rng(3)
    X, X_open = rng.normal(size=(d + 40, d)), rng.normal(size=(30, d))
    y = X[:, :2] @ np.array([[1.0, 0.2], [0.3, 1.0]])
    solvers = []
    fit = RidgeEnsemble.fit

    def recording_fit(self, X_fit, y_fit):
        fitted = fit(self, X_fit, y_fit)
        solvers.append((X_fit.shape[0], fitted.solver_))
        return fitted

    monkeypatch.setattr(RidgeEnsemble, "fit", recording_fit)
    plan = online_queue(X, y, X_open, budget=5)
    assert solvers == [(d - 1, "gram")]
    assert plan.queued.size == 5
