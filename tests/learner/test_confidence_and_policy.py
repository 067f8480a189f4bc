import numpy as np
import pytest
from scipy.stats import spearmanr

from learner.confidence import AgreementEstimator, ConfidenceModel, ErrorEngines
from learner.cooperative import (
    Action,
    QueueOrder,
    choose_queue_order,
    choose_self_label_threshold,
    decide,
    raters_to_start,
    uniform_by_id,
)


def heteroscedastic(n, seed):
    """Noise grows with |X[:, 0]|: the model must be less sure of such clips."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    noise = 0.02 + 0.4 * np.abs(X[:, 0])
    y = np.tanh(0.5 * X[:, 1:3]) + noise[:, None] * rng.normal(size=(n, 2))
    agreement = np.clip(1 - noise, 0, 1)
    return X, y, agreement


def test_calibrated_bound_holds_on_held_out_data():
    X, y, agreement = heteroscedastic(1500, seed=0)
    train, dev, test = slice(0, 700), slice(700, 1000), slice(1000, 1500)
    model = ConfidenceModel(coverage=0.8, random_state=0).fit(X[train], y[train], agreement[train])
    from learner.regressors import LinearRegressor

    main = LinearRegressor().fit(X[train], y[train])
    model.calibrate(X[dev], np.abs(main.predict(X[dev]) - y[dev]))
    real = np.abs(main.predict(X[test]) - y[test])
    covered = real <= model.bound(X[test])
    # 500 clips: a binomial share at 0.8 has a standard error of 0.018; allow about 3 of them.
    assert covered.mean() == pytest.approx(0.8, abs=0.06)
    expected, predicted_agreement = model.predict(X[test])
    assert spearmanr(expected[:, 0], real[:, 0]).statistic > 0.3
    assert spearmanr(predicted_agreement, agreement[test]).statistic > 0.5
    # Calibrated: mean expected error is close to the mean real error.
    assert expected.mean() == pytest.approx(real.mean(), rel=0.2)


def test_error_engines_give_out_of_fold_errors_and_a_spread():
    X, y, _ = heteroscedastic(300, seed=1)
    engines = ErrorEngines(n_engines=4).fit(X, y)
    assert engines.oof_error_.shape == (300, 2)
    mean, spread = engines.predict(X[:10])
    assert mean.shape == spread.shape == (10, 2)
    assert (spread > 0).all()


def test_agreement_estimator_without_any_agreement_predicts_nan():
    X = np.random.default_rng(0).normal(size=(20, 3))
    assert np.isnan(AgreementEstimator().fit(X, np.full(20, np.nan)).predict(X)).all()


def test_threshold_meets_the_target_on_held_out_clips():
    rng = np.random.default_rng(3)
    expected = rng.uniform(0, 0.5, 4000)
    real = np.abs(rng.normal(scale=expected * 1.25))  # E|N(0, s)| = 0.8 s: calibrated
    threshold = choose_self_label_threshold(
        expected_error=expected[:2000], real_error=real[:2000], target_error=0.1
    )
    chosen = expected[2000:] <= threshold
    assert 0.1 < chosen.mean() < 0.9
    assert real[2000:][chosen].mean() == pytest.approx(0.1, abs=0.02)


def test_threshold_is_zero_when_nothing_meets_the_target():
    assert (
        choose_self_label_threshold(
            expected_error=[0.1, 0.2, 0.3], real_error=[1, 1, 1], target_error=0.1
        )
        == 0.0
    )


def test_decide_honours_threshold_and_budget_and_ranks_by_uncertainty():
    expected = np.array([[0.05, 0.04], [0.5, 0.1], [0.3, 0.2], [0.2, 0.1], [0.6, 0.7], [0.1, 0.05]])
    decisions = decide(
        expected_error=expected,
        agreement=None,
        self_label_threshold=0.1,
        human_budget=2,
        min_raters=2,
        max_raters=5,
    )
    actions = [d.action for d in decisions]
    assert actions == [
        Action.SELF_LABEL,
        Action.ASK_HUMANS,
        Action.DEFER,
        Action.DEFER,
        Action.ASK_HUMANS,
        Action.SELF_LABEL,
    ]
    assert decisions[4].priority > decisions[1].priority
    assert all(d.n_raters == 2 for d in decisions if d.action == Action.ASK_HUMANS)


def test_predicted_disagreement_raises_priority_and_raters():
    expected = np.array([[0.3], [0.3]])
    decisions = decide(
        expected_error=expected,
        agreement=[0.9, 0.3],
        self_label_threshold=0.1,
        human_budget=2,
        min_raters=2,
        max_raters=4,
    )
    assert decisions[1].priority > decisions[0].priority
    assert (decisions[0].n_raters, decisions[1].n_raters) == (2, 3)
    assert raters_to_start(0.2, min_raters=3, max_raters=3) == 3


def test_proportional_selection_favours_uncertain_clips_but_covers_the_pool():
    expected = np.linspace(0.11, 1.0, 200)[:, None]
    picks = np.zeros(200)
    for seed in range(200):
        decisions = decide(
            expected_error=expected,
            agreement=None,
            self_label_threshold=0.1,
            human_budget=20,
            min_raters=1,
            max_raters=3,
            selection="proportional",
            random_state=seed,
        )
        asked = [i for i, d in enumerate(decisions) if d.action == Action.ASK_HUMANS]
        assert len(asked) == 20
        picks[asked] += 1
    assert picks[150:].sum() > 2 * picks[:50].sum()  # uncertain clips are drawn more often
    assert picks[:100].sum() > 0.15 * picks.sum()  # but the calmer half is not starved
    with pytest.raises(ValueError, match="selection"):
        decide(
            expected_error=expected,
            agreement=None,
            self_label_threshold=0.1,
            human_budget=1,
            min_raters=1,
            max_raters=1,
            selection="best",
        )


def test_the_queue_is_ordered_by_uncertainty_only_once_the_confidence_ranks_errors():
    # z = mean rank * sqrt(n - 2) against 1.645 (one-sided 5 %).
    assert choose_queue_order([0.1, 0.1], 100) == QueueOrder.RANDOM  # z 0.99: acted corpora
    assert choose_queue_order([0.2, 0.2], 100) == QueueOrder.UNCERTAINTY  # z 1.98
    assert choose_queue_order([0.2, 0.2], 40) == QueueOrder.RANDOM  # the same rank, fewer clips
    assert choose_queue_order([0.5, -0.3], 100) == QueueOrder.RANDOM  # the mean decides
    assert choose_queue_order([0.4, None], 100) == QueueOrder.UNCERTAINTY  # unmeasured: left out
    assert choose_queue_order([None, None], 100) == QueueOrder.RANDOM
    assert choose_queue_order([], 100) == QueueOrder.RANDOM


def test_a_random_queue_draws_the_pool_uniformly_and_keeps_each_clips_place():
    ids = np.arange(1000, 1400)
    draw = uniform_by_id(ids, seed=7)
    assert 0 <= draw.min() <= draw.max() < 1
    assert abs(draw.mean() - 0.5) < 0.05
    # A clip keeps its number whatever else is in the pool; another seed reshuffles.
    np.testing.assert_array_equal(uniform_by_id(ids[::-3], seed=7), draw[::-3])
    assert abs(np.corrcoef(uniform_by_id(ids, seed=8), draw)[0, 1]) < 0.2
    # The most uncertain clips are not favoured: the human batch follows the draw.
    expected = np.linspace(0.2, 1.0, 400)[:, None]
    expected[:50] = 0.05  # confident: self-labelled whatever the order
    decisions = decide(
        expected_error=expected,
        agreement=None,
        self_label_threshold=0.1,
        human_budget=40,
        min_raters=1,
        max_raters=3,
        selection=QueueOrder.RANDOM,
        random_priority=draw,
    )
    asked = [i for i, d in enumerate(decisions) if d.action == Action.ASK_HUMANS]
    eligible = np.arange(50, 400)
    assert asked == sorted(eligible[np.argsort(-draw[eligible])][:40].tolist())
    assert all(decisions[i].action == Action.SELF_LABEL for i in range(50))
    assert 120 < np.mean(asked) < 330  # spread over the pool, not its uncertain end
    assert decisions[asked[0]].priority == draw[asked[0]]


def test_engines_on_leading_components_still_find_where_the_model_errs():
    # 60 correlated features from 6 latent factors, as acoustic functionals are; the
    # noise grows with the first factor. The engines see 16 principal components.
    rng = np.random.default_rng(4)
    factors = rng.normal(size=(1200, 6))
    X = factors @ rng.normal(size=(6, 60)) + 0.1 * rng.normal(size=(1200, 60))
    noise = 0.02 + 0.4 * np.abs(factors[:, 0])
    y = np.tanh(0.5 * factors[:, 1:3]) + noise[:, None] * rng.normal(size=(1200, 2))
    train, test = slice(0, 800), slice(800, 1200)
    model = ConfidenceModel(n_components=16, random_state=0).fit(X[train], y[train])
    assert model.errors_.components_.shape == (60, 16)
    from learner.regressors import LinearRegressor

    real = np.abs(LinearRegressor().fit(X[train], y[train]).predict(X[test]) - y[test])
    expected, _ = model.predict(X[test])
    assert spearmanr(expected[:, 0], real[:, 0]).statistic > 0.3


def test_confidence_saved_before_projection_and_prediction_signals_still_predicts():
    X, y, agreement = heteroscedastic(200, seed=5)
    model = ConfidenceModel(n_components=None, random_state=0).fit(X, y, agreement)
    for part in (model.errors_, model.agreement_):
        del part.components_  # as pickled by versions without them
    del model.uses_prediction_, model.label_mean_, model.label_span_
    expected, predicted_agreement = model.predict(X[:5], y[:5])
    assert expected.shape == (5, 2)
    assert np.isfinite(predicted_agreement).all()


def test_calibration_learns_from_where_the_prediction_lies():
    # The noise grows with the label itself, a direction spread over 30 features that
    # trees on a few components hardly see; the prediction points at it.
    rng = np.random.default_rng(6)
    X = rng.normal(size=(1500, 30))
    signal = np.tanh(X @ rng.normal(scale=0.1, size=30))
    y = (signal + 0.5 * np.abs(signal) * rng.normal(size=1500))[:, None]
    train, dev, test = slice(0, 700), slice(700, 1100), slice(1100, 1500)
    from learner.regressors import LinearRegressor

    main = LinearRegressor().fit(X[train], y[train])
    dev_predicted = main.predict(X[dev]).reshape(-1, 1)
    test_predicted = main.predict(X[test]).reshape(-1, 1)
    real = np.abs(test_predicted - y[test])[:, 0]
    model = ConfidenceModel(random_state=0).fit(X[train], y[train])

    model.calibrate(X[dev], np.abs(dev_predicted - y[dev]))
    engines_only = spearmanr(model.predict(X[test])[0][:, 0], real).statistic
    model.calibrate(X[dev], np.abs(dev_predicted - y[dev]), dev_predicted)
    with_prediction = spearmanr(model.predict(X[test], test_predicted)[0][:, 0], real).statistic
    assert with_prediction > 0.3
    assert with_prediction > engines_only + 0.1
    with pytest.raises(ValueError, match="pass them"):
        model.predict(X[test])


def test_the_agreement_engine_takes_over_the_error_engines_scaling_of_the_same_clips():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 40)) * rng.uniform(0.5, 5.0, size=40)
    y = np.column_stack([X[:, 0] / 5, X[:, 1] / 5]) + rng.normal(scale=0.1, size=(120, 2))
    agreement = rng.uniform(0.3, 1.0, size=120)
    errors = ErrorEngines(n_engines=2, n_components=8).fit(X, y)
    shared = AgreementEstimator(n_components=8).fit(X, agreement, scaled_like=errors)
    own = AgreementEstimator(n_components=8).fit(X, agreement)
    assert shared.components_ is errors.components_
    np.testing.assert_allclose(shared.scaled(X), own.scaled(X), atol=1e-9)
    np.testing.assert_allclose(shared.predict(X), own.predict(X), atol=1e-6)
    with pytest.raises(ValueError, match="same features and components"):
        AgreementEstimator(n_components=4).fit(X, agreement, scaled_like=errors)
