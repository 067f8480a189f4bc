"""Self-labelling against noisy development labels: the bars, the threshold and why.

Development labels come from a few raters and carry their own error. A machine label
is held to the error of a `rater_panel`-rater human label against the true value, so its
measured error must be cleaned of the development labels' noise before it is compared:
without that, even a perfect model misses the bar (the demo's 0.0 threshold).
"""

import numpy as np
import pytest

from learner.confidence import ConfidenceModel
from learner.cooperative import MAE_PER_SD, choose_self_label_threshold, denoised_mae
from learner.training import (
    LabelledSet,
    RoundConfig,
    human_label_bars,
    self_label_why,
    speaker_split,
    train_round,
)

NOISE = 0.3  # SD of one rating
PANEL = 3


def test_denoised_mae_takes_the_labels_noise_out():
    rng = np.random.default_rng(0)
    model, labels = 0.1 * rng.normal(size=200_000), 0.15 * rng.normal(size=200_000)
    measured = np.abs(model + labels)
    assert measured.mean() == pytest.approx(MAE_PER_SD * np.hypot(0.1, 0.15), rel=0.01)
    assert denoised_mae(measured, np.full(measured.size, 0.15)) == pytest.approx(
        MAE_PER_SD * 0.1, rel=0.02
    )
    # Exact labels: the plain mean absolute error.
    assert denoised_mae(measured) == pytest.approx(measured.mean())


def test_a_perfect_model_meets_the_human_bar_only_once_the_labels_noise_is_counted():
    rng = np.random.default_rng(1)
    n = 60
    # Development labels: means of 2 ratings; the model predicts the true value.
    label_se = np.full((n, 2), NOISE / np.sqrt(2))
    measured = np.abs(label_se * rng.normal(size=(n, 2)))
    expected = rng.uniform(0.01, 0.2, size=(n, 2))
    bar = human_label_bars((NOISE, NOISE), PANEL, 2)
    assert bar == pytest.approx(MAE_PER_SD * NOISE / np.sqrt(PANEL))
    # The old comparison: raw errors against the bar. A perfect model errs by the labels'
    # own noise, sqrt(2/pi) * 0.3 / sqrt(2) = 0.17, above the 0.14 of a 3-rater label.
    assert (
        choose_self_label_threshold(expected_error=expected, real_error=measured, target_error=bar)
        == 0.0
    )
    threshold = choose_self_label_threshold(
        expected_error=expected, real_error=measured, target_error=bar, label_error=label_se
    )
    assert threshold == pytest.approx(expected.max(axis=1).max())


def test_each_target_is_held_to_its_own_bar():
    expected = np.array([0.05, 0.06, 0.07, 0.08])
    real = np.array([[0.05, 0.30]] * 4)
    # Arousal's raters agree (bar 0.1), valence's do not (bar 0.35): both met.
    assert choose_self_label_threshold(
        expected_error=expected, real_error=real, target_error=[0.1, 0.35]
    ) == pytest.approx(0.08)
    # One bar for both, the least noisy target's: valence can never meet it.
    assert (
        choose_self_label_threshold(expected_error=expected, real_error=real, target_error=0.1)
        == 0.0
    )


def test_clips_with_the_same_expected_error_are_all_in_or_all_out():
    expected = np.array([0.05, 0.05, 0.05, 0.1, 0.1, 0.1, 0.2])
    real = np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.9, 0.1])
    # Cutting inside the 0.1 group would claim 5 clips of mean error 0.05; scoring takes
    # all three at 0.1, whose mean error is 0.19.
    assert choose_self_label_threshold(
        expected_error=expected, real_error=real, target_error=0.1
    ) == pytest.approx(0.05)


def test_the_threshold_never_exceeds_the_ceiling():
    expected = np.array([0.03, 0.05, 0.1, 0.15, 0.2])
    real = np.full(5, 0.01)
    assert choose_self_label_threshold(
        expected_error=expected, real_error=real, target_error=0.2, max_threshold=0.12
    ) == pytest.approx(0.1)
    assert choose_self_label_threshold(
        expected_error=[], real_error=np.zeros((0, 2)), target_error=0.2
    ) == (0.0)


def test_calibration_against_noisy_labels_estimates_the_error_against_the_truth():
    rng = np.random.default_rng(2)
    n = 400
    X = rng.normal(size=(n, 4))
    y = np.column_stack([0.4 * X[:, 0], 0.3 * X[:, 1]])
    confidence = ConfidenceModel(n_error_engines=2, n_components=None).fit(X, y)
    signals = confidence.signals(X[:200])
    model_error = np.abs(0.05 * (1 + np.abs(X[:200, 2:4])) * rng.normal(size=(200, 2)))
    se = np.full((200, 2), 0.2)
    measured = np.abs(model_error + se * rng.normal(size=(200, 2)))
    raw = ConfidenceModel.expected_error(
        confidence.calibrate_signals(signals, measured), signals
    ).copy()
    clean = confidence.calibrate_signals(signals, measured, label_error=se).expected_error(signals)
    assert clean.mean() < raw.mean() - 0.05
    # The same order: taking the noise out changes the units, not the ranking.
    for t in range(2):
        order = np.argsort(raw[:, t], kind="stable")
        assert np.all(np.diff(clean[order, t]) >= -1e-12)


def noisy_crowd_set(n=320, seed=3, speakers=8):
    """Labels: the true values (learnable) plus the error of a 2-rater mean of a crowd
    whose one rating errs by NOISE."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    truth = np.column_stack([0.3 * X[:, 0], 0.3 * X[:, 1] - 0.2 * X[:, 2]])
    se = np.full(truth.shape, NOISE / np.sqrt(2))
    return LabelledSet(
        clip_ids=np.arange(n),
        X=X,
        y=truth + se * rng.normal(size=truth.shape),
        agreement=np.full(n, np.nan),
        groups=np.array([f"s{i % speakers}" for i in range(n)], dtype=object),
        weight=np.ones(n),
        human=np.ones(n, dtype=bool),
        label_error=se,
    )


def test_a_good_model_of_a_noisy_crowd_labels_clips_and_says_why():
    data = noisy_crowd_set()
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    config = RoundConfig(
        targets=("arousal", "valence"),
        extractor_key="test",
        n_folds=3,
        n_error_engines=2,
        crowd_noise=(NOISE, NOISE),
        rater_panel=PANEL,
    )
    bundle = train_round(data.subset(~dev), data.subset(dev), config)
    summary = bundle.report["self_label"]
    human = MAE_PER_SD * NOISE / np.sqrt(PANEL)
    assert summary["human_label_error"]["arousal"] == pytest.approx(human)
    assert summary["bar"] == {"arousal": pytest.approx(human), "valence": pytest.approx(human)}
    assert summary["bar_source"] == {"arousal": "human_label", "valence": "human_label"}
    assert 0 < bundle.self_label_threshold <= config.max_self_label_error
    assert summary["dev_share"] > 0.3
    assert all(summary["dev_error"][t] <= human for t in config.targets)
    why = bundle.report["self_label_why"]
    assert why.startswith(
        f"Labels a clip itself when its expected error is at most {bundle.self_label_threshold:.2f}"
    )
    assert "3-rater human label of this crowd, lower than the 0.20 target" in why
    assert f"{summary['dev_share']:.0%} of clips" in why

    # The same labels taken as exact: their own noise counts against the model, and
    # far fewer clips meet the bar.
    exact = LabelledSet(**{**data.__dict__, "label_error": None})
    stuck = train_round(exact.subset(~dev), exact.subset(dev), config).report["self_label"]
    assert stuck["dev_share"] < summary["dev_share"] - 0.2


def test_without_the_crowds_noise_only_the_projects_bars_count():
    data = noisy_crowd_set()
    dev = speaker_split(data.groups, dev_fraction=0.25, random_state=0)
    config = RoundConfig(
        targets=("arousal", "valence"), extractor_key="test", n_folds=3, n_error_engines=2
    )
    summary = train_round(data.subset(~dev), data.subset(dev), config).report["self_label"]
    assert summary["bar"] == {"arousal": 0.2, "valence": 0.2}
    assert summary["human_label_error"] == {"arousal": None, "valence": None}
    assert summary["rater_panel"] is None


def summary(**changes):
    base = {
        "targets": ["arousal", "valence"],
        "target_error": 0.25,
        "max_self_label_error": 0.3,
        "rater_panel": 3,
        "human_label_error": {"arousal": 0.21, "valence": 0.21},
        "bar": {"arousal": 0.21, "valence": 0.21},
        "bar_source": {"arousal": "human_label", "valence": "human_label"},
        "threshold": 0.21,
        "capped_by_max_error": False,
        "checked_on": "speakers",
        "dev_clips": 50,
        "dev_share": 0.34,
        "expected_error": 0.15,
        "dev_expected_error": {"arousal": 0.15, "valence": 0.13},
        "dev_error": {"arousal": 0.18, "valence": 0.18},
        "dev_error_vs_labels": {"arousal": 0.2, "valence": 0.2},
        "surest_error": {"arousal": 0.1, "valence": 0.12},
        "dev_label_noise": {"arousal": 0.0, "valence": 0.0},
    }
    return {**base, **changes}


def test_why_in_plain_words():
    assert self_label_why(summary()) == (
        "Labels a clip itself when its expected error is at most 0.21 on every target, so "
        "that its machine labels err on average by no more than 0.21 (the error of a "
        "3-rater human label of this crowd, lower than the 0.25 target); on development "
        "speakers, each scored by a confidence calibrated on the other development "
        "speakers, that is 34% of clips, with an expected error of 0.15 on arousal, 0.13 "
        "on valence and a measured error of 0.18."
    )
    # Chosen on the clips the confidence was calibrated on (a summary from before the
    # cross-fit, or too few development clips): the sentence says so.
    in_sample = self_label_why(summary(checked_on="calibration_clips"))
    assert (
        "on the development clips its confidence was calibrated on (too few to hold some "
        "out, so likely optimistic), that is 34% of clips" in in_sample
    )
    old = {k: v for k, v in summary().items() if k not in ("checked_on", "dev_expected_error")}
    assert "so likely optimistic), that is 34% of clips, with a measured error of 0.18." in (
        self_label_why(old)
    )
    mixed = self_label_why(
        summary(
            human_label_error={"arousal": 0.1, "valence": 0.4},
            bar={"arousal": 0.1, "valence": 0.25},
            bar_source={"arousal": "human_label", "valence": "target_error"},
            capped_by_max_error=True,
            dev_label_noise={"arousal": 0.08, "valence": 0.08},
        )
    )
    assert "0.10 on arousal (the error of a 3-rater human label" in mixed
    assert "0.25 on valence (the project's target" in mixed
    assert "no higher than the 0.30 ceiling self_label_max_error" in mixed
    assert "the development labels' own error, 0.08, taken out" in mixed
    none = self_label_why(summary(threshold=0.0, dev_share=0.0))
    assert none.startswith("Labels no clip itself: machine labels must err on average")
    assert "the 3 clips it is surest of err by 0.10 on arousal, 0.12 on valence" in none
    assert "on development speakers, each scored by a confidence calibrated on the other" in none
    ceiling = self_label_why(
        summary(threshold=0.0, dev_share=0.0, surest_clips=6, surest_expected=0.4)
    )
    assert ceiling.endswith(
        "and be expected to err by at most the 0.30 ceiling self_label_max_error; on "
        "development speakers, each scored by a confidence calibrated on the other "
        "development speakers, even the 6 clips it is surest of are expected to err by more "
        "than that ceiling, and err by 0.10 on arousal, 0.12 on valence; the humans label "
        "the rest."
    )
