import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression

from learner.metrics import ccc
from learner.regressors import (
    ClippedRegressor,
    LinearRegressor,
    MLPRegressor,
    PerTargetRegressor,
    PLSRegressor,
    SVRRegressor,
    make_regressor,
    predict_matrix,
)
from learner.regressors.extra import fit_robust_scaler, robust_scale, simpls

SMALL_MLP = {"hidden": (32,), "learning_rate": 3e-3, "patience": 20}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def data(n=300, d=30, seed=0):
    """Two targets, linear in a few of the features, in [-1, 1] like a rating scale."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    a = np.tanh(0.5 * X[:, 0] - 0.3 * X[:, 1])
    v = np.tanh(0.4 * X[:, 2])
    return X, np.column_stack([a, v]) + 0.05 * rng.normal(size=(n, 2))


def new_models():
    return {
        "pls": PLSRegressor(),
        "svr": SVRRegressor(),
        "svr_rbf": SVRRegressor(kernel="rbf"),
        "mlp_per_target": PerTargetRegressor(MLPRegressor(**SMALL_MLP), random_state=1),
        # One penalty: LinearRegressor's own K-fold choice of it scores every row alike.
        "linear_clipped": ClippedRegressor(LinearRegressor(alphas=(1.0,))),
    }


@pytest.mark.parametrize("name", list(new_models()))
def test_learns_a_linear_signal_and_masks_missing_targets(name):
    X, y = data()
    y_missing = y.copy()
    y_missing[::3, 1] = np.nan
    y_missing[:5, 0] = np.nan
    model = new_models()[name].fit(X[:200], y_missing[:200])
    pred = model.predict(X[200:])
    assert pred.shape == (100, 2)
    assert np.isfinite(pred).all()
    assert ccc(y[200:, 0], pred[:, 0]) > 0.8
    assert ccc(y[200:, 1], pred[:, 1]) > 0.7


@pytest.mark.parametrize("name", list(new_models()))
def test_a_target_without_labels_predicts_nan_and_one_d_y_gives_one_d(name):
    X, y = data(n=80)
    y[:, 1] = np.nan
    pred = new_models()[name].fit(X, y).predict(X)
    assert np.isnan(pred[:, 1]).all()
    assert np.isfinite(pred[:, 0]).all()
    assert new_models()[name].fit(X, y[:, 0]).predict(X).shape == (80,)


@pytest.mark.parametrize("name", list(new_models()))
def test_zero_weight_rows_are_ignored(name):
    """Rows of weight 0 carry a contradicting signal: the fit follows the others."""
    X, y = data(n=240)
    poisoned = y.copy()
    poisoned[:120] = -y[:120]
    w = np.r_[np.zeros(120), np.ones(120)]
    pred = new_models()[name].fit(X, poisoned, sample_weight=w).predict(X[:120])
    assert ccc(y[:120, 0], pred[:, 0]) > 0.7
    unweighted = new_models()[name].fit(X, poisoned).predict(X[:120])
    assert ccc(y[:120, 0], unweighted[:, 0]) < 0.5


@pytest.mark.parametrize("name", list(new_models()))
def test_pickles_and_clones(name):
    X, y = data(n=80)
    model = new_models()[name].fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict(X), model.predict(X))
    fresh = clone(model)
    assert fresh.get_params().keys() == model.get_params().keys()
    assert not hasattr(fresh, "n_targets_")
    assert not hasattr(fresh, "estimator_")
    np.testing.assert_allclose(fresh.fit(X, y).predict(X), model.predict(X), atol=1e-6)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_simpls_matches_scikit_learn_pls_with_uniform_weights(k):
    X, y = data(n=60, d=12)
    coefs, intercepts = simpls(X, y[:, 0], np.ones(60), k)
    ours = X @ coefs[:, k - 1] + intercepts[k - 1]
    theirs = PLSRegression(n_components=k, scale=False).fit(X, y[:, 0]).predict(X).ravel()
    np.testing.assert_allclose(ours, theirs, atol=1e-8)


def test_simpls_weights_act_like_repeated_rows():
    X, y = data(n=50, d=8)
    w = np.r_[np.full(10, 3.0), np.ones(40)]
    coefs, intercepts = simpls(X, y[:, 0], w, 4)
    repeated = np.r_[np.repeat(np.arange(10), 3), np.arange(10, 50)]
    coefs_r, intercepts_r = simpls(X[repeated], y[repeated, 0], np.ones(len(repeated)), 4)
    np.testing.assert_allclose(coefs, coefs_r, atol=1e-10)
    np.testing.assert_allclose(intercepts, intercepts_r, atol=1e-10)


def test_robust_scaling_clips_outliers_that_ruin_a_z_score():
    """One huge value per feature (a broken frame) would squash a z-score's other rows;
    the robust scale ignores it and the clip bounds it."""
    X, y = data(n=200, d=10)
    spoiled = X.copy()
    spoiled[0] = 1e6
    center, scale = fit_robust_scaler(spoiled)
    Z = robust_scale(spoiled, center, scale)
    assert np.abs(Z).max() == pytest.approx(5.0)
    np.testing.assert_allclose(scale, fit_robust_scaler(X)[1], rtol=0.05)
    clipped = ClippedRegressor(LinearRegressor()).fit(spoiled[:150], y[:150])
    assert ccc(y[150:, 0], clipped.predict(spoiled[150:])[:, 0]) > 0.8


def test_pls_and_svr_choose_their_complexity_on_the_data():
    X, y = data()
    pls = PLSRegressor().fit(X, y)
    assert all(k in PLSRegressor().components for k in pls.n_components_)
    svr = SVRRegressor().fit(X, y)
    assert np.isfinite(svr.C_).all()
    with pytest.raises(ValueError, match="kernel"):
        SVRRegressor(kernel="poly").fit(X, y)


def test_make_regressor_knows_the_new_names_and_the_old_ones_unchanged():
    assert type(make_regressor("linear")) is LinearRegressor
    assert type(make_regressor("mlp", random_state=3)) is MLPRegressor
    assert make_regressor("mlp", random_state=3).random_state == 3
    assert isinstance(make_regressor("pls"), PLSRegressor)
    assert make_regressor("svr_rbf").kernel == "rbf"
    per_target = make_regressor("mlp_per_target", random_state=4, hidden=(8,))
    assert per_target.random_state == 4
    assert per_target.estimator.hidden == (8,)
    X, y = data(n=60)
    fitted = make_regressor("mlp_per_target", random_state=4, hidden=(8,), max_epochs=5)
    fitted.fit(X, y)
    assert [m.random_state for m in fitted.estimators_] == [4, 4]
    assert predict_matrix(fitted, X).shape == (60, 2)
    with pytest.raises(ValueError, match="unknown regressor"):
        make_regressor("boosted")
