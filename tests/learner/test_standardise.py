import numpy as np

from learner.standardise import fit_standardiser, standardise, standardised_linear_map


def test_constant_features_are_centred_not_divided_by_zero():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    mean, scale = fit_standardiser(X)
    np.testing.assert_array_equal(mean, [3.0, 5.0])
    np.testing.assert_array_equal(scale, [X[:, 0].std(), 1.0])
    Z = standardise(X, mean, scale)
    np.testing.assert_allclose(Z[:, 0], (X[:, 0] - 3.0) / X[:, 0].std())
    np.testing.assert_array_equal(Z[:, 1], 0.0)
    np.testing.assert_array_equal(standardise([[7.0, 6.0]], mean, scale)[0, 1], 1.0)


def test_with_min_scale_features_that_hardly_vary_become_zero():
    X = np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 1e-13], [5.0, 5.0, 0.0]])
    std = X.std(axis=0)
    Z = standardise(X + 1.0, X.mean(axis=0), std, min_scale=1e-12)
    np.testing.assert_allclose(Z[:, 0], (X[:, 0] + 1.0 - 3.0) / std[0])
    assert (Z[:, 1:] == 0.0).all()
    assert not np.signbit(Z[:, 1:]).any()


def test_statistics_over_leading_axes():
    X = np.random.default_rng(0).normal(size=(4, 5, 3))
    mean, scale = fit_standardiser(X, axis=(0, 1))
    assert mean.shape == scale.shape == (3,)
    Z = standardise(X, mean, scale)
    np.testing.assert_allclose(Z.reshape(-1, 3).mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.reshape(-1, 3).std(axis=0), 1.0)


def test_the_standardisation_folded_into_a_linear_map_gives_the_same_values():
    rng = np.random.default_rng(1)
    X = rng.normal(loc=3.0, scale=rng.uniform(0.1, 20.0, size=40), size=(50, 40))
    mean, scale = fit_standardiser(X[:30])
    weights = rng.normal(size=(40, 3))
    folded, offset = standardised_linear_map(weights, mean, scale)
    np.testing.assert_allclose(
        X @ folded + offset, standardise(X, mean, scale) @ weights, atol=1e-10
    )
    # float32 rows (the feature cache's) are mapped in float64
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(
        X32 @ folded + offset, standardise(X32, mean, scale) @ weights, atol=1e-10
    )
