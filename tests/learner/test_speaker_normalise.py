import numpy as np
import pytest

from learner.features import speaker_normalise


def test_each_speaker_is_standardised_on_its_own_clips():
    rng = np.random.default_rng(0)
    speakers = np.repeat(["low", "high"], 20)
    # Two voices: same emotional variation, different baseline and range.
    emotion = rng.normal(size=(40, 3))
    X = np.where(speakers[:, None] == "low", 100 + emotion, 180 + 3 * emotion)
    Z = speaker_normalise(X, speakers)
    for speaker in ("low", "high"):
        rows = speakers == speaker
        np.testing.assert_allclose(Z[rows].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(Z[rows].std(axis=0), 1, atol=1e-5)

    # Across speakers, what is left is the emotion, no longer the voice.
    def fit(F):
        return min(np.corrcoef(F[:, j], emotion[:, j])[0, 1] for j in range(3))

    assert fit(X) < 0.5 < 0.9 < fit(Z)


def test_rare_and_unknown_speakers_use_the_statistics_of_all_clips():
    rng = np.random.default_rng(1)
    X = rng.normal(5, 2, size=(30, 2))
    speakers = np.array(["a"] * 20 + ["b"] * 3 + [None] * 4 + [""] * 3, dtype=object)
    Z = speaker_normalise(X, speakers, min_clips=10)
    rest = np.arange(30) >= 20
    expected = (X[rest] - X.mean(axis=0)) / X.std(axis=0)
    np.testing.assert_allclose(Z[rest], expected, rtol=1e-5)
    np.testing.assert_allclose(Z[:20].mean(axis=0), 0, atol=1e-5)


def test_constant_features_become_zero_and_shapes_are_checked():
    X = np.column_stack([np.arange(12.0), np.full(12, 7.0)])
    Z = speaker_normalise(X, ["s"] * 12)
    assert np.all(Z[:, 1] == 0)
    assert np.isfinite(Z).all()
    with pytest.raises(ValueError, match="2 speakers for 12 clips"):
        speaker_normalise(X, ["s", "t"])
    with pytest.raises(ValueError, match="2-d"):
        speaker_normalise(np.arange(5.0), ["s"] * 5)
