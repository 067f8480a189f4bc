import numpy as np
import pytest

from learner.features import EXTRACTORS, CompareExtractor, get_extractor
from learner.features.functionals import functionals
from learner.features.lld import LLD_NAMES

SR = 16000


def tone(freq=150.0, amp=0.3, seconds=1.5, seed=0):
    t = np.arange(int(SR * seconds)) / SR
    rng = np.random.default_rng(seed)
    # A few harmonics, like a voice.
    signal = sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, 6))
    return (amp * signal / 2 + 0.001 * rng.normal(size=t.size)).astype(np.float32)


def feature(vector, name):
    names = get_extractor("librosa").feature_names_
    return vector[names.index(name)]


def test_shapes_names_and_no_nan():
    extractor = get_extractor("librosa")
    vector = extractor.extract(tone(), SR)
    assert vector.shape == (len(extractor.feature_names_),)
    assert np.isfinite(vector).all()
    assert len(LLD_NAMES) == 20


def test_louder_means_more_energy_and_higher_pitch_means_higher_f0():
    extractor = get_extractor("librosa")
    quiet, loud = extractor.extract(tone(amp=0.05), SR), extractor.extract(tone(amp=0.5), SR)
    assert feature(loud, "rms_mean") > 5 * feature(quiet, "rms_mean")
    low, high = extractor.extract(tone(freq=120), SR), extractor.extract(tone(freq=240), SR)
    assert feature(high, "f0_voiced_mean") == pytest.approx(
        feature(low, "f0_voiced_mean") + 1, abs=0.1
    )
    assert feature(low, "voiced_share") > 0.9


def test_noise_is_unvoiced_and_silence_gives_no_nan():
    extractor = get_extractor("librosa")
    noise = np.random.default_rng(0).normal(scale=0.1, size=SR).astype(np.float32)
    assert feature(extractor.extract(noise, SR), "voiced_share") < 0.3
    assert np.isfinite(extractor.extract(np.zeros(SR, dtype=np.float32), SR)).all()
    assert np.isfinite(extractor.extract(np.zeros(100, dtype=np.float32), SR)).all()


def test_other_sample_rates_and_stereo_are_accepted():
    extractor = get_extractor("librosa")
    stereo = np.column_stack([tone(), tone()])
    assert np.isfinite(extractor.extract(stereo, SR)).all()
    t = np.arange(44100) / 44100
    assert np.isfinite(extractor.extract(0.3 * np.sin(2 * np.pi * 200 * t), 44100)).all()


def test_deterministic_and_cache_key_follows_parameters():
    a = get_extractor("librosa").extract(tone(), SR)
    b = get_extractor("librosa").extract(tone(), SR)
    np.testing.assert_array_equal(a, b)
    assert get_extractor("librosa").cache_key == get_extractor("librosa").cache_key
    assert get_extractor("librosa").cache_key != get_extractor("librosa", n_mels=64).cache_key
    assert get_extractor("librosa").cache_key != get_extractor("egemaps").cache_key


def test_cache_keys_of_features_extracted_before_stay_the_same():
    # Stored features (the platform's, the benchmarks' var/cache) are found by these keys.
    assert get_extractor("librosa").cache_key == "librosa-9b952ec17bf832e2"
    assert get_extractor("egemaps").cache_key == "egemaps-83a286b3a69e44a9"


def test_functionals_of_a_ramp():
    frames = np.linspace(0, 1, 101)[:, None]  # one second at 10 ms
    stats = functionals(frames)
    assert stats[0] == pytest.approx(0.5)  # mean
    assert stats[5] == pytest.approx(1.0)  # range
    assert stats[6] == pytest.approx(1.0)  # slope per second
    assert functionals(np.zeros((0, 3))).shape == (21,)


def test_egemaps_gives_88_functionals():
    extractor = get_extractor("egemaps")
    vector = extractor.extract(tone(), SR)
    assert vector.shape == (88,)
    assert len(extractor.feature_names_) == 88
    assert np.isfinite(vector).all()


def test_compare_gives_6373_functionals():
    extractor = get_extractor("compare")
    assert isinstance(extractor, CompareExtractor)
    assert EXTRACTORS["compare"] is CompareExtractor
    vector = extractor.extract(tone(seconds=1.0), SR)
    assert vector.shape == (6373,)
    assert len(extractor.feature_names_) == 6373
    assert vector.dtype == np.float32
    assert np.isfinite(vector).all()
    assert np.isfinite(extractor.extract(np.zeros(100, dtype=np.float32), SR)).all()


def test_compare_cache_key_differs_from_egemaps_and_stays_the_same():
    assert get_extractor("compare").cache_key != get_extractor("egemaps").cache_key
    assert get_extractor("compare").cache_key == get_extractor("compare").cache_key
    assert get_extractor("compare").cache_key == "compare-9d187fe70cc08443"


def test_unknown_extractor_is_named():
    with pytest.raises(ValueError, match="unknown feature extractor 'x'"):
        get_extractor("x")
