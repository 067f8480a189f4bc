"""The self-label threshold chosen out-of-fold says what machine labels will err by.

Chosen on the very development clips the confidence was calibrated on, the threshold
keeps the clips whose errors happened to be small there: the round claims a smaller
error than its machine labels make on new clips. Cross-fitted on development speakers
(each clip's expected error from a calibration on the other speakers), the claim is
measured on clips the calibration never saw.
"""

from dataclasses import replace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from learner.cooperative import choose_self_label_threshold
from learner.regressors import predict_matrix
from learner.training import (
    LabelledSet,
    RoundConfig,
    confidence_rank_on_held_out_speakers,
    cross_fitted_expected_error,
    development_halves,
    speaker_split,
    train_round,
)

CONFIG = RoundConfig(
    targets=("arousal",),
    extractor_key="test",
    n_folds=3,
    n_error_engines=2,
    confidence_components=None,
    target_error=0.1,
    max_self_label_error=1.0,
)


def heteroscedastic(rng, n, speakers, prefix):
    """Labels exact (they are the truth), a learnable mean and a noise that is three
    times larger on half the feature space, heavy-tailed: what the confidence must find."""
    X = rng.normal(size=(n, 5))
    sd = 0.06 + 0.15 * (X[:, 1] > 0)
    y = 0.4 * X[:, :1] + sd[:, None] * rng.standard_t(4, size=(n, 1))
    groups = np.array([f"{prefix}{i % speakers}" for i in range(n)], dtype=object)
    return LabelledSet.of_human_labels(X, y, groups)


def claim_and_audit(bundle, dev, fresh, threshold, expected_on_dev):
    """The dev error of the clips under `threshold` (what the round claims), and the
    real error of the fresh clips the bundle would label with it (what an audit finds);
    None where either labels nothing."""
    dev_error = np.abs(predict_matrix(bundle.model, dev.X) - dev.y)
    claimed = expected_on_dev <= threshold
    scores = bundle.predict(fresh.X)
    labelled = scores.expected_error.max(axis=1) <= threshold
    if threshold <= 0 or not claimed.any() or not labelled.any():
        return None
    audit = float(np.abs(scores.values - fresh.y)[labelled].mean())
    return float(dev_error[claimed].mean()), audit


def test_the_out_of_fold_claim_is_closer_to_what_fresh_clips_show():
    closer, compared = 0, 0
    optimism = {"in_sample": [], "out_of_fold": []}
    with threadpool_limits(1):  # small boosted trees: threads only contend
        for seed in range(20):
            rng = np.random.default_rng(seed)
            train = heteroscedastic(rng, 150, 10, "t")
            dev = heteroscedastic(rng, 24, 6, "d")
            fresh = heteroscedastic(rng, 2000, 50, "f")
            bundle = train_round(train, dev, replace(CONFIG, random_state=seed))
            summary = bundle.report["self_label"]
            assert summary["checked_on"] == "speakers"
            # The old choice: on the deployed calibration's own development clips.
            dev_pred = predict_matrix(bundle.model, dev.X)
            in_sample_expected = bundle.confidence.expected_error(
                bundle.confidence.signals(dev.X, dev_pred)
            )[:, 0]
            in_sample = choose_self_label_threshold(
                expected_error=in_sample_expected,
                real_error=np.abs(dev_pred - dev.y),
                target_error=CONFIG.target_error,
                max_threshold=CONFIG.max_self_label_error,
            )
            old = claim_and_audit(bundle, dev, fresh, in_sample, in_sample_expected)
            new = None
            if bundle.self_label_threshold > 0:
                claimed = summary["dev_error"]["arousal"]
                labelled = bundle.predict(fresh.X).expected_error[:, 0]
                labelled = labelled <= bundle.self_label_threshold
                if labelled.any():
                    audit = float(
                        np.abs(predict_matrix(bundle.model, fresh.X) - fresh.y)[labelled].mean()
                    )
                    new = claimed, audit
            if old is not None:
                optimism["in_sample"].append(old[1] - old[0])
            if new is not None:
                optimism["out_of_fold"].append(new[1] - new[0])
            if old is not None and new is not None:
                compared += 1
                closer += abs(new[1] - new[0]) <= abs(old[1] - old[0])
    print(compared, closer, {k: np.mean(v) for k, v in optimism.items()})
    assert compared >= 12
    assert closer >= 2 / 3 * compared
    # Measured (20 seeds): in-sample 0.037 too optimistic; the out-of-fold choice applied
    # as its threshold 0.014, carried over as its share of development clips 0.024 (the
    # pool then gets the share the round reports; the threshold alone labelled nothing
    # where the deployed scale was lower).
    assert np.mean(optimism["out_of_fold"]) < 0.75 * np.mean(optimism["in_sample"])


def test_each_clips_expected_error_comes_from_a_calibration_without_it():
    rng = np.random.default_rng(0)
    data = heteroscedastic(rng, 200, 10, "t")
    dev = heteroscedastic(rng, 40, 6, "d")
    with threadpool_limits(1):
        bundle = train_round(data, dev, CONFIG)
    signals = bundle.confidence.signals(dev.X, predict_matrix(bundle.model, dev.X))
    error = np.abs(predict_matrix(bundle.model, dev.X) - dev.y)
    expected, by = cross_fitted_expected_error(
        bundle.confidence, signals, error, dev.groups, random_state=0
    )
    assert by == "speakers"
    assert expected.shape == error.shape
    # A side's errors change nothing in its own expected errors, only in the other's.
    first, second = development_halves(dev.groups, random_state=0)
    assert first.any()
    assert second.any()
    assert not (first & second).any()
    assert (first | second).all()
    changed = error.copy()
    changed[first] *= 3
    again, _ = cross_fitted_expected_error(
        bundle.confidence, signals, changed, dev.groups, random_state=0
    )
    np.testing.assert_array_equal(again[first], expected[first])
    assert not np.allclose(again[second], expected[second])
    # The deployed confidence is left as calibrated on every development clip.
    np.testing.assert_array_equal(
        bundle.confidence.expected_error(signals),
        train_round(data, dev, CONFIG).confidence.expected_error(signals),
    )
    # The halves are those the confidence's rank is measured on.
    assert (first == speaker_split(dev.groups, dev_fraction=0.5, random_state=0)).all()
    assert (
        len(
            confidence_rank_on_held_out_speakers(
                bundle.confidence, signals, error, dev.groups, random_state=0
            )
        )
        == 1
    )


@pytest.mark.parametrize(
    ("n_dev", "speakers", "checked_on"),
    [(24, 6, "speakers"), (24, 2, "clips"), (8, 4, "calibration_clips")],
)
def test_too_few_speakers_or_clips_fall_back_and_say_so(n_dev, speakers, checked_on):
    rng = np.random.default_rng(1)
    train = heteroscedastic(rng, 150, 10, "t")
    dev = heteroscedastic(rng, n_dev, speakers, "d")
    with threadpool_limits(1):
        bundle = train_round(train, dev, CONFIG)
    summary = bundle.report["self_label"]
    assert summary["checked_on"] == checked_on
    why = bundle.report["self_label_why"]
    if checked_on == "calibration_clips":
        assert "calibrated on (too few to hold some out, so likely optimistic)" in why
    else:
        assert f"on development {checked_on}, each scored by a confidence calibrated on" in why
    # The share and errors it quotes are those of the clips under its threshold.
    if bundle.self_label_threshold > 0:
        assert f"{summary['dev_share']:.0%} of clips" in why
        assert f"a measured error of {summary['dev_error']['arousal']:.2f}" in why
        assert f"an expected error of {summary['dev_expected_error']['arousal']:.2f}" in why
    else:
        surest = summary["surest_error"]["arousal"]
        assert f"the {summary['surest_clips']} clips it is surest of" in why
        assert f"{surest:.2f}" in why
        # They missed the bar (or the ceiling): the threshold could not take them.
        assert surest > CONFIG.target_error or summary["surest_expected"] > 1.0
    # Without the cross-fit, as before: chosen where the confidence was calibrated.
    old = train_round(train, dev, replace(CONFIG, self_label_cross_fit=False))
    assert old.report["self_label"]["checked_on"] == "calibration_clips"


def test_share_matched_threshold_labels_as_many_development_clips():
    from learner.training import share_matched_threshold

    chosen_on = np.array([0.05, 0.08, 0.12, 0.20, 0.30])
    deployed = np.array([0.02, 0.03, 0.04, 0.10, 0.11])  # another scale, same clips
    threshold = share_matched_threshold(0.10, chosen_on=chosen_on, deployed=deployed, ceiling=1)
    assert threshold == pytest.approx(0.03)
    assert int(np.sum(deployed <= threshold)) == int(np.sum(chosen_on <= 0.10))
    assert share_matched_threshold(0.0, chosen_on=chosen_on, deployed=deployed, ceiling=1) == 0
    assert share_matched_threshold(0.5, chosen_on=chosen_on, deployed=deployed, ceiling=0.1) == 0.1
    nan_clip = np.array([0.02, np.nan, 0.04, 0.10, 0.11])
    assert share_matched_threshold(
        0.06, chosen_on=chosen_on, deployed=nan_clip, ceiling=1
    ) == pytest.approx(0.02)
