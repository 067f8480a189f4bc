import pickle

import numpy as np
import pytest
import torch

from learner.metrics import ccc
from learner.regressors import LinearRegressor, MLPRegressor, make_regressor


def data(n=400, d=20, seed=0, nonlinear=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    a = np.tanh(0.6 * X[:, 0] - 0.4 * X[:, 1] + (0.5 * X[:, 2] ** 2 - 0.5 if nonlinear else 0))
    v = np.tanh(0.5 * X[:, 3])
    return X, np.column_stack([a, v]) + 0.05 * rng.normal(size=(n, 2))


def test_linear_learns_and_masks_missing_targets():
    X, y = data()
    y_missing = y.copy()
    y_missing[::3, 1] = np.nan
    model = LinearRegressor().fit(X[:300], y_missing[:300])
    pred = model.predict(X[300:])
    assert pred.shape == (100, 2)
    assert ccc(y[300:, 0], pred[:, 0]) > 0.9
    assert ccc(y[300:, 1], pred[:, 1]) > 0.85
    assert np.isfinite(pred).all()


def test_linear_penalty_chosen_on_data_beats_the_worst_one_held_out():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 120))
    y = (X[:, :5] @ rng.normal(size=5) + 1.5 * rng.normal(size=400))[:, None]
    chosen = LinearRegressor(random_state=1).fit(X[:100], y[:100])
    assert chosen.alpha_[0] in LinearRegressor().alphas
    held = [
        ccc(y[100:, 0], LinearRegressor(alphas=(a,)).fit(X[:100], y[:100]).predict(X[100:])[:, 0])
        for a in LinearRegressor().alphas
    ]
    assert ccc(y[100:, 0], chosen.predict(X[100:])[:, 0]) > min(held) + 0.05
    again = LinearRegressor(random_state=1).fit(X[:100], y[:100])
    assert again.alpha_[0] == chosen.alpha_[0]


def test_sample_weights_shift_the_fit():
    X = np.linspace(-1, 1, 100)[:, None]
    y = np.where(np.arange(100) < 50, 1.0, -1.0)[:, None] * 0 + X * 0.5
    y[:10] = 1.0
    w = np.ones(100)
    w[:10] = 0.0
    fitted = LinearRegressor(alphas=(1e-3,)).fit(X, y, sample_weight=w)
    assert fitted.predict(np.array([[0.5]]))[0, 0] == pytest.approx(0.25, abs=0.01)


def test_mlp_with_ccc_loss_learns_a_nonlinear_relation():
    X, y = data(n=600, nonlinear=True)
    model = MLPRegressor(max_epochs=80, random_state=1).fit(X[:500], y[:500])
    pred = model.predict(X[500:])
    assert ccc(y[500:, 0], pred[:, 0]) > 0.8
    constant = np.full(100, y[:500, 0].mean())
    assert ccc(y[500:, 0], pred[:, 0]) > ccc(y[500:, 0], constant) + 0.5


def test_mlp_is_deterministic_and_pickles_with_a_strict_state():
    X, y = data(n=200)
    a = MLPRegressor(max_epochs=5, random_state=2).fit(X, y)
    b = MLPRegressor(max_epochs=5, random_state=2).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict(X), a.predict(X))
    state = a.__getstate__()
    state["hidden"] = (7,)
    broken = MLPRegressor.__new__(MLPRegressor)
    with pytest.raises(RuntimeError, match="size mismatch"):
        broken.__setstate__(state)


def weighted_line(n=200):
    """y = x/2 on most clips; a tenth of them say 1.0 instead, and they get weight 0."""
    X = np.linspace(-1, 1, n)[:, None]
    y = 0.5 * X
    y[: n // 10] = 1.0
    w = np.ones(n)
    w[: n // 10] = 0.0
    return X, y, w


@pytest.mark.parametrize("loss", ["ccc_total", "mse"])
def test_mlp_sample_weights_shift_the_fit(loss):
    X, y, w = weighted_line()
    params = {"hidden": (16,), "dropout": 0.0, "loss": loss, "max_epochs": 150, "patience": 150}
    weighted = MLPRegressor(**params).fit(X, y, sample_weight=w).predict(X)
    unweighted = MLPRegressor(**params).fit(X, y).predict(X)
    clean = slice(len(X) // 10, None)
    # Without their weight the outliers no longer pull the fit (most on the clips beside them).
    weighted_error = np.abs(weighted[clean] - y[clean]).mean()
    assert weighted_error < 0.5 * np.abs(unweighted[clean] - y[clean]).mean()
    assert weighted_error < 0.05


def test_mlp_uniform_weights_are_no_weights():
    X, y = data(n=200)
    plain = MLPRegressor(max_epochs=5, random_state=1).fit(X, y).predict(X)
    for scale in (1.0, 3.0):
        uniform = MLPRegressor(max_epochs=5, random_state=1).fit(
            X, y, sample_weight=np.full(200, scale)
        )
        np.testing.assert_array_equal(uniform.predict(X), plain)


def test_mlp_neither_reads_nor_moves_the_global_torch_generator():
    X, y = data(n=200)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = MLPRegressor(max_epochs=5, random_state=4).fit(X, y).predict(X)
    assert torch.equal(torch.get_rng_state(), before)
    torch.rand(10)  # whatever the global generator's state, the same fit
    second = MLPRegressor(max_epochs=5, random_state=4).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, second)
    other = MLPRegressor(max_epochs=5, random_state=5).fit(X, y).predict(X)
    assert not np.array_equal(first, other)


def test_predictions_keep_the_shape_of_the_targets():
    X, y = data(n=100)
    for model in (LinearRegressor(), MLPRegressor(max_epochs=2)):
        assert model.fit(X, y[:, 0]).predict(X).shape == (100,)
        assert model.fit(X, y[:, :1]).predict(X).shape == (100, 1)
        assert model.fit(X, y).predict(X).shape == (100, 2)


def test_make_regressor_names():
    assert isinstance(make_regressor("linear"), LinearRegressor)
    assert isinstance(make_regressor("mlp", random_state=3), MLPRegressor)
    with pytest.raises(ValueError, match="unknown regressor"):
        make_regressor("svm")
