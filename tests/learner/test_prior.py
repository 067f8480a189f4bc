"""Priors: a model from earlier corpora that a project's own labels learn with."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from learner.features import corpus_normalise
from learner.metrics import ccc
from learner.prior import (
    PriorResidual,
    PriorStacked,
    compatibility_problems,
    frozen_prior,
    with_prior,
)
from learner.regressors import make_regressor, predict_matrix
from learner.training import (
    LabelledSet,
    RoundConfig,
    TrainedBundle,
    choose_on_dev,
    paired_dev_gain,
    train_candidate,
)

TARGETS = ("arousal", "valence")
CONFIG = RoundConfig(targets=TARGETS, extractor_key="test")


def _task(seed: int, n: int, weights: np.ndarray, noise: float = 0.3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, weights.shape[0]))
    y = np.tanh(X @ weights) + rng.normal(0, noise, (n, weights.shape[1]))
    return X, y


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(0).normal(0, 0.4, (40, 2))


def _prior(X, y, targets=TARGETS):
    return frozen_prior(make_regressor("linear").fit(X, y), targets, TARGETS)


def _test_ccc(model, X, y):
    predicted = predict_matrix(model, X)
    return np.mean([ccc(y[:, t], predicted[:, t]) for t in range(y.shape[1])])


def test_a_related_prior_lifts_a_model_with_few_labels(weights):
    prior = _prior(*_task(1, 600, weights))
    X, y = _task(2, 12, weights)
    X_test, y_test = _task(3, 400, weights)
    cold = make_regressor("linear").fit(X, y)
    warm = PriorResidual(base=make_regressor("linear"), prior=prior).fit(X, y)
    assert _test_ccc(warm, X_test, y_test) > _test_ccc(cold, X_test, y_test) + 0.2


def test_with_many_labels_the_residual_model_catches_up_on_a_wrong_prior(weights):
    prior = _prior(*_task(1, 600, -weights))  # predicts the opposite
    X, y = _task(2, 800, weights)
    X_test, y_test = _task(3, 400, weights)
    warm = PriorResidual(base=make_regressor("linear"), prior=prior).fit(X, y)
    assert _test_ccc(warm, X_test, y_test) > 0.8


def test_stacked_sees_the_prior_as_an_input(weights):
    prior = _prior(*_task(1, 600, weights))
    X, y = _task(2, 60, weights)
    model = PriorStacked(base=make_regressor("linear"), prior=prior).fit(X, y)
    assert model.base_.n_features_in_ == X.shape[1] + len(TARGETS)
    assert predict_matrix(model, X).shape == (60, 2)


def test_nan_labels_stay_missing_and_weights_pass_through(weights):
    prior = _prior(*_task(1, 300, weights))
    X, y = _task(2, 50, weights)
    y[:10, 1] = np.nan
    model = PriorResidual(base=make_regressor("linear"), prior=prior)
    model.fit(X, y, sample_weight=np.linspace(0.5, 1.0, 50))
    assert np.isfinite(predict_matrix(model, X)).all()


def test_clone_and_pickle_keep_the_prior_fitted(weights):
    prior = _prior(*_task(1, 300, weights))
    X, y = _task(2, 40, weights)
    model = with_prior(make_regressor("linear"), prior, "residual")
    copy = clone(model)
    assert not hasattr(copy, "base_")
    np.testing.assert_allclose(copy.prior.predict(X), prior.predict(X))
    fitted = copy.fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(predict_matrix(restored, X), predict_matrix(fitted, X))


def test_frozen_prior_gives_the_projects_targets_in_its_order(weights):
    X, y = _task(1, 100, weights)
    model = make_regressor("linear").fit(X, y)
    swapped = frozen_prior(model, TARGETS, ("valence", "arousal"))
    np.testing.assert_allclose(swapped.predict(X), predict_matrix(model, X)[:, ::-1])
    with pytest.raises(ValueError, match="does not predict dominance"):
        frozen_prior(model, TARGETS, ("arousal", "dominance"))
    with pytest.raises(ValueError, match="unknown prior mode"):
        with_prior(make_regressor("linear"), swapped, "averaged")


def test_compatibility_names_every_problem():
    fits = {
        "prior_scales": {"arousal": (-1, 1), "valence": (-1, 1)},
        "project_scales": {"arousal": (-1.0, 1.0), "valence": (-1.0, 1.0)},
        "prior_extractor": "librosa-v3",
        "project_extractor": "librosa-v3",
        "prior_normalisation": "corpus",
        "project_normalisation": "auto",
    }
    assert compatibility_problems(**fits) == []
    problems = compatibility_problems(
        **{
            **fits,
            "project_scales": {"arousal": (1, 5), "dominance": (-1, 1)},
            "project_extractor": "egemaps-v02",
            "project_normalisation": "speaker",
        }
    )
    assert problems == [
        "the prior predicts arousal, valence but the project rates arousal, dominance",
        "arousal: the prior's scale is [-1, 1], the project's [1, 5]",
        "the prior's features come from librosa-v3, the project's from egemaps-v02",
        "the prior needs features normalised per corpus, the project fixes them to "
        "'speaker' (set it to auto)",
    ]
    # Features as extracted take a per-corpus prior (standardised over the project's own
    # clips), not a per-speaker one.
    assert compatibility_problems(**{**fits, "project_normalisation": "none"}) == []
    assert compatibility_problems(
        **{**fits, "prior_normalisation": "speaker", "project_normalisation": "none"}
    ) == [
        "the prior needs features normalised per speaker, the project fixes them to 'none' "
        "(set it to auto)"
    ]


@pytest.mark.parametrize("related", [True, False])
def test_the_projects_development_speakers_decide_whether_the_prior_is_used(weights, related):
    prior = _prior(*_task(1, 600, weights if related else -weights))
    X, y = _task(2, 40, weights)
    data = LabelledSet.of_human_labels(X, y, np.repeat([f"s{i}" for i in range(8)], 5))
    warm = RoundConfig(targets=TARGETS, extractor_key="test", prior=prior)
    for challengers in ((), ("none+prior",)):
        chosen, scores = choose_on_dev(
            {"none": data, "none+prior": data},
            CONFIG,
            dev_seed=0,
            configs={"none+prior": warm},
            challengers=challengers,
        )
        assert chosen == ("none+prior" if related else "none"), (challengers, scores)


def test_a_challenger_must_win_beyond_the_noise_of_the_development_set(weights):
    X, y = _task(2, 40, weights)
    data = LabelledSet.of_human_labels(X, y, np.repeat([f"s{i}" for i in range(8)], 5))
    # The same model under another name: level on every bootstrap draw, never clearly better.
    level = {"cold": data, "same": data, "challenger": data}
    assert choose_on_dev(level, CONFIG, dev_seed=0, challengers=("challenger",))[0] == "cold"
    gain = paired_dev_gain((data, CONFIG), (data, CONFIG), dev_seed=0)
    assert gain == 0.0
    prior = _prior(*_task(1, 600, weights))
    warm = RoundConfig(targets=TARGETS, extractor_key="test", prior=prior)
    assert paired_dev_gain((data, CONFIG), (data, warm), dev_seed=0) > 0


def test_a_warm_bundle_trains_saves_and_loads(weights, tmp_path):
    prior = _prior(*_task(1, 300, weights))
    X, y = _task(2, 80, weights)
    data = LabelledSet.of_human_labels(X, y, np.repeat([f"s{i}" for i in range(8)], 10))
    config = RoundConfig(
        targets=TARGETS, extractor_key="test", prior=prior, n_folds=2, n_error_engines=1
    )
    bundle = train_candidate(data, config, dev_seed=0).bundle
    bundle.save(tmp_path / "warm.bundle")
    restored = TrainedBundle.load(tmp_path / "warm.bundle")
    np.testing.assert_allclose(restored.predict(X).values, bundle.predict(X).values)
    assert isinstance(restored.model, PriorResidual)


def test_corpus_normalise_standardises_within_each_corpus():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(5, 2, (30, 4)), rng.normal(-3, 0.5, (20, 4))])
    corpora = np.array(["a"] * 30 + ["b"] * 20)
    Z = corpus_normalise(X, corpora)
    for name in ("a", "b"):
        np.testing.assert_allclose(Z[corpora == name].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(Z[corpora == name].std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(corpus_normalise(X).mean(axis=0), 0, atol=1e-5)


def test_pooled_learns_from_the_priors_own_clips_with_their_weight(weights):
    X_prior, y_prior = _task(1, 600, weights)
    model = make_regressor("linear").fit(X_prior, y_prior)
    prior = frozen_prior(model, TARGETS, ("valence", "arousal"), X=X_prior, y=y_prior)
    X, y = _task(2, 12, weights[:, ::-1])  # the project rates valence first
    X_test, y_test = _task(3, 400, weights[:, ::-1])
    pooled = with_prior(make_regressor("linear"), prior, "pooled").fit(X, y)
    cold = make_regressor("linear").fit(X, y)
    assert _test_ccc(pooled, X_test, y_test) > _test_ccc(cold, X_test, y_test) + 0.2
    with pytest.raises(ValueError, match="cannot be pooled"):
        with_prior(make_regressor("linear"), _prior(X_prior, y_prior), "pooled").fit(X, y)
