"""The ridge's penalty path from one SVD, its reduced-rank form, and the 16 kHz ComParE."""

import numpy as np
import pytest
from sklearn.utils import check_random_state

from learner.confidence import EXACT_PCA_MAX_RANK, ErrorEngines
from learner.features import EXTRACTORS, Compare16kExtractor, get_extractor
from learner.metrics import ccc
from learner.regressors import CLIPPED_MAX_RANK, LinearRegressor, make_regressor
from learner.regressors.linear import ALPHAS
from learner.ridge import RidgePath, principal_axes, ridge
from learner.standardise import fit_standardiser, standardise


def low_rank(n, d, rank, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + noise * rng.normal(size=(n, d))
    y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2]]) + 0.3 * rng.normal(size=(n, 2))
    return X, y


@pytest.mark.parametrize(("n", "d"), [(40, 90), (90, 12)])
@pytest.mark.parametrize("weighted", [False, True])
def test_path_gives_each_penalty_the_ridge_solution(n, d, weighted):
    rng = np.random.default_rng(1)
    Z, y = rng.normal(size=(n, d)), rng.normal(size=n)
    w = rng.uniform(0.1, 2.0, size=n) if weighted else None
    alphas = [0.01, 1.0, 30.0]
    coefs, intercepts = RidgePath(Z, w).solve(y, alphas)
    assert coefs.shape == (3, d)
    for k, alpha in enumerate(alphas):
        coef, intercept = ridge(Z, y, alpha, w)
        np.testing.assert_allclose(coefs[k], coef, atol=1e-9)
        assert intercepts[k] == pytest.approx(intercept, abs=1e-9)


def reference_alpha(X, y, w, random_state=0):
    """The penalty as LinearRegressor chose it before the path: one ridge per fold and
    penalty, the first best out-of-fold CCC."""
    mean, scale = fit_standardiser(X)
    Z = standardise(X, mean, scale)
    folds = check_random_state(random_state).permutation(len(y)) % 5
    best, best_score = None, -np.inf
    for alpha in ALPHAS:
        oof = np.empty(len(y))
        for k in range(5):
            held = folds == k
            coef, intercept = ridge(Z[~held], y[~held], alpha, w[~held])
            oof[held] = Z[held] @ coef + intercept
        if ccc(y, oof) > best_score:
            best, best_score = alpha, ccc(y, oof)
    return best


def test_exact_ridge_chooses_the_penalty_the_per_fold_solves_chose():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 60))
    y = np.column_stack([X[:, :4] @ rng.normal(size=4), X[:, 5]]) + 2.0 * rng.normal(size=(120, 2))
    y[::4, 1] = np.nan
    w = rng.uniform(0.5, 1.5, size=120)
    model = LinearRegressor().fit(X, y, sample_weight=w)
    assert model.rank_ == 60
    for t in range(2):
        rows = ~np.isnan(y[:, t])
        assert model.alpha_[t] == reference_alpha(X[rows], y[rows, t], w[rows])
        mean, scale = fit_standardiser(X)
        coef, _ = ridge(standardise(X, mean, scale)[rows], y[rows, t], model.alpha_[t], w[rows])
        np.testing.assert_allclose(model.coef_[t], coef, atol=1e-8)


def test_principal_axes_are_the_leading_right_singular_vectors():
    X, _ = low_rank(150, 40, rank=6, noise=0.1)
    axes = principal_axes(X, 5)
    assert axes.shape == (40, 5)
    np.testing.assert_allclose(axes.T @ axes, np.eye(5), atol=1e-8)
    _, _, vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    # The same subspace: projecting the SVD's axes on these keeps them whole.
    np.testing.assert_allclose(np.linalg.norm(axes.T @ vt[:5].T, axis=0), 1.0, atol=1e-6)


def test_principal_axes_of_many_rows_come_from_a_fixed_subset():
    X, _ = low_rank(300, 30, rank=3, noise=0.05)
    a = principal_axes(X, 3, random_state=1, max_rows=100)
    b = principal_axes(X, 3, random_state=1, max_rows=100)
    np.testing.assert_array_equal(a, b)
    full = principal_axes(X, 3)
    # A random third of the rows finds the same three directions of a rank-3 matrix.
    np.testing.assert_allclose(np.linalg.norm(full.T @ a, axis=0), 1.0, atol=1e-3)


def test_reduced_rank_is_exact_when_the_data_has_no_more_rank():
    X, y = low_rank(80, 200, rank=20)
    exact = LinearRegressor().fit(X, y)
    same = LinearRegressor(max_rank=80).fit(X, y)  # min(n, d) = 80: not reduced
    np.testing.assert_allclose(same.coef_, exact.coef_, atol=1e-9)
    reduced = LinearRegressor(max_rank=30).fit(X[:60], y[:60])
    assert reduced.rank_ == 30
    assert reduced.coef_.shape == (2, 200)
    full = LinearRegressor().fit(X[:60], y[:60])
    # Rank 20 plus a little noise: 30 axes hold nearly all of it.
    a, b = reduced.predict(X[60:]), full.predict(X[60:])
    assert min(ccc(a[:, t], b[:, t]) for t in range(2)) > 0.999


def test_reduced_rank_loses_what_lies_outside_its_axes():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 50)) * np.linspace(3.0, 0.1, 50)  # axes ordered by variance
    y = X[:, -1:] * 10.0  # the signal is on the smallest axis
    kept = LinearRegressor(max_rank=10).fit(X[:150], y[:150])
    assert ccc(y[150:, 0], kept.predict(X[150:])[:, 0]) < 0.5
    exact = LinearRegressor().fit(X[:150], y[:150])
    assert ccc(y[150:, 0], exact.predict(X[150:])[:, 0]) > 0.9


def test_clipped_ridge_is_reduced_to_its_default_rank():
    model = make_regressor("linear_clipped")
    assert model.estimator.max_rank == CLIPPED_MAX_RANK
    assert make_regressor("linear").max_rank is None
    X, y = low_rank(40, 30, rank=5)
    fitted = make_regressor("linear_clipped", max_rank=8).fit(X, y)
    assert fitted.estimator_.rank_ == 8


def test_confidence_components_of_large_matrices_come_from_the_gram_matrix():
    n = d = EXACT_PCA_MAX_RANK + 20
    X, _ = low_rank(n, d, rank=8, noise=0.05)
    engines = ErrorEngines(n_components=4)
    Z = engines.fit_scaler(X)
    assert Z.shape == (n, 4)
    np.testing.assert_allclose(engines.components_.T @ engines.components_, np.eye(4), atol=1e-8)
    small = ErrorEngines(n_components=4)
    small.fit_scaler(X[:100, :50])
    np.testing.assert_allclose(small.components_.T @ small.components_, np.eye(4), atol=1e-8)


def tone_48k(seconds=1.2):
    t = np.arange(int(48000 * seconds)) / 48000
    return (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )


def test_compare16k_is_compare_of_the_audio_at_16_khz():
    import soxr

    extractor = get_extractor("compare16k")
    assert EXTRACTORS["compare16k"] is Compare16kExtractor
    assert extractor.cache_key != get_extractor("compare").cache_key
    audio = tone_48k()
    at_16k = soxr.resample(audio, 48000, 16000).astype(np.float32)
    compare = get_extractor("compare")
    np.testing.assert_array_equal(extractor.extract(audio, 48000), compare.extract(at_16k, 16000))
    np.testing.assert_array_equal(extractor.extract(at_16k, 16000), compare.extract(at_16k, 16000))
    assert not np.array_equal(compare.extract(audio, 48000), compare.extract(at_16k, 16000))


@pytest.mark.parametrize("weighted", [False, True])
def test_path_of_few_wide_rows_from_the_gram_matrix_matches_the_ridge(weighted):
    # ComParE's shape: a few dozen standardised clips of thousands of correlated features,
    # down to the smallest penalty of the search.
    X, y = low_rank(60, 3000, rank=40, seed=3, noise=0.05)
    Z = standardise(X, *fit_standardiser(X))
    w = np.random.default_rng(4).uniform(0.2, 2.0, size=60) if weighted else None
    path = RidgePath(Z, w)
    assert path.sVt.shape == (60, 3000)  # factored from the 60 x 60 Gram matrix
    coefs, intercepts = path.solve(y[:, 0], ALPHAS)
    for k, alpha in enumerate(ALPHAS):
        coef, intercept = ridge(Z, y[:, 0], alpha, w)
        np.testing.assert_allclose(coefs[k], coef, rtol=1e-6, atol=1e-9 * np.abs(coef).max())
        assert intercepts[k] == pytest.approx(intercept, rel=1e-8, abs=1e-9)
