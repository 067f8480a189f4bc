"""The feature normalisation chooses itself on the development speakers' labels."""

import numpy as np
import pytest

from learner.features import speaker_normalise
from learner.training import LabelledSet, RoundConfig, choose_on_dev

CONFIG = RoundConfig(targets=("arousal", "valence"), extractor_key="test")


def _corpus(*, natural: bool, seed: int, n_speakers: int = 24, per_speaker: int = 20):
    """Features = who speaks (a large per-speaker offset) + how they feel + noise.

    Acted: every speaker spans the whole scale. Natural: each speaker carries one
    emotion (a level of their own, little variation around it)."""
    rng = np.random.default_rng(seed)
    n, d = n_speakers * per_speaker, 30
    speakers = np.repeat([f"s{i}" for i in range(n_speakers)], per_speaker)
    if natural:
        level = rng.uniform(-0.8, 0.8, (n_speakers, 2))
        y = np.repeat(level, per_speaker, axis=0) + rng.normal(0, 0.05, (n, 2))
    else:
        y = rng.uniform(-1, 1, (n, 2))
    offsets = np.repeat(rng.normal(0, 3.0, (n_speakers, d)), per_speaker, axis=0)
    X = offsets + y @ rng.normal(0, 1.0, (2, d)) + rng.normal(0, 0.5, (n, d))
    return X, y, speakers


def _views(X, y, speakers):
    return {
        "speaker": LabelledSet.of_human_labels(speaker_normalise(X, speakers), y, speakers),
        "none": LabelledSet.of_human_labels(X, y, speakers),
    }


@pytest.mark.parametrize(("natural", "expected"), [(False, "speaker"), (True, "none")])
def test_normalisation_that_suits_the_corpus_wins(natural, expected):
    chosen = [
        choose_on_dev(_views(*_corpus(natural=natural, seed=seed)), CONFIG, dev_seed=seed)[0]
        for seed in range(10)
    ]
    assert chosen.count(expected) >= 9, chosen


def test_scores_every_view_and_reports_them():
    chosen, scores = choose_on_dev(_views(*_corpus(natural=True, seed=0)), CONFIG, dev_seed=0)
    assert set(scores) == {"speaker", "none"}
    assert scores[chosen] == max(scores.values())
    # Within-speaker standardisation removes a natural corpus's emotion itself.
    assert scores["none"] > scores["speaker"] + 0.1


def test_too_few_labels_keeps_the_first_view():
    X, y, speakers = _corpus(natural=True, seed=0, n_speakers=3, per_speaker=4)
    chosen, scores = choose_on_dev(_views(X, y, speakers), CONFIG, dev_seed=0)
    assert chosen == "speaker"
    assert all(np.isnan(score) for score in scores.values())


def test_needs_a_view():
    with pytest.raises(ValueError, match="at least one view"):
        choose_on_dev({}, CONFIG, dev_seed=0)
