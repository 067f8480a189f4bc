"""scikit-learn's estimator checks on the learner's estimators.

The checks that do not apply are listed with their reason and expected to fail; the
learner's own conventions are tested below them.
"""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from learner.confidence import AgreementEstimator, ConfidenceModel, ErrorEngines
from learner.online import RidgeEnsemble
from learner.regressors import LinearRegressor, MLPRegressor

# Small settings: the checks fit each estimator dozens of times on tiny data.
ESTIMATORS = [
    LinearRegressor(),
    MLPRegressor(hidden=(8,), max_epochs=3, patience=2),
    AgreementEstimator(max_iter=5),
    ErrorEngines(n_folds=2, n_engines=2, max_iter=5),
    ConfidenceModel(n_folds=2, n_error_engines=1),
    RidgeEnsemble(n_members=2),
]

NAN_TARGETS = "NaN targets are missing labels, masked out: even an all-NaN y is accepted"
WEIGHTS_ARE_NOT_COPIES = (
    "weights are rescaled to mean 1 (the penalty keeps its meaning) and folds, batches or "
    "bootstrap samples are drawn over rows: a weight of 2 is not a repeated row"
)
TUPLE_PREDICT = "predict returns a tuple of arrays (expected error and spread or agreement)"

EXPECTED_FAILURES = {
    "LinearRegressor": {
        "check_supervised_y_no_nan": NAN_TARGETS,
        "check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_COPIES,
    },
    "MLPRegressor": {
        "check_supervised_y_no_nan": NAN_TARGETS,
        "check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_COPIES,
    },
    "AgreementEstimator": {"check_supervised_y_no_nan": NAN_TARGETS},
    "ErrorEngines": {
        "check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_COPIES,
        "check_methods_sample_order_invariance": TUPLE_PREDICT,
    },
    "ConfidenceModel": {
        "check_sample_weight_equivalence_on_dense_data": WEIGHTS_ARE_NOT_COPIES,
        "check_methods_sample_order_invariance": TUPLE_PREDICT,
        "check_fit_idempotent": TUPLE_PREDICT,
        "check_estimators_pickle": TUPLE_PREDICT,
    },
    "RidgeEnsemble": {},
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny fits: threads only cost (OpenMP in the boosted trees, torch's own pool)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


def expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES[type(estimator).__name__]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def data(n=40, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.tanh(X[:, :2])


@pytest.mark.parametrize("estimator", [e for e in ESTIMATORS if type(e) is not AgreementEstimator])
def test_missing_targets_are_accepted_and_infinite_ones_refused(estimator):
    X, y = data()
    y[::3, 1] = np.nan
    estimator.fit(X, y)
    y[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        estimator.fit(X, y)


@pytest.mark.parametrize("estimator", [LinearRegressor(), MLPRegressor(max_epochs=2)])
def test_bad_sample_weights_are_refused(estimator):
    X, y = data()
    for weights, problem in [
        (np.ones(3), "shape"),
        (-np.ones(40), "non-negative"),
        (np.zeros(40), "sums to zero"),
    ]:
        with pytest.raises(ValueError, match=problem):
            estimator.fit(X, y, sample_weight=weights)


def test_models_saved_before_feature_counts_still_predict():
    X, y = data()
    model = LinearRegressor().fit(X, y)
    expected = model.predict(X)
    del model.n_features_in_, model._y_1d  # as pickled by versions without them
    np.testing.assert_array_equal(model.predict(X), expected)
    with pytest.raises(NotFittedError):
        LinearRegressor().predict(X)
