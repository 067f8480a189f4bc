"""Noise at a chosen SNR (learner.noise) and the enhancement front ends (learner.enhance)."""

import numpy as np
import pytest

from learner.enhance import RecurrentDenoiser, SpectralGain, make_enhancer
from learner.noise import (
    add_noise,
    babble,
    babble_sources,
    mix_at_snr,
    noise_rng,
    output_snr_db,
    snr_db,
    white_noise,
)

SR = 16000


def tone(rng: np.random.Generator, seconds: float = 0.8) -> np.ndarray:
    """A voiced-like harmonic complex with a gliding pitch and pauses at both ends."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = rng.uniform(110, 260) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    signal = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = np.clip(np.sin(np.pi * t / seconds) * 1.6 - 0.3, 0, 1)
    return (0.2 * envelope * signal).astype(np.float32)


def noisy_pairs(seed: int, n: int, snr: float = 0.0) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    clean = [tone(rng) for _ in range(n)]
    noisy = [mix_at_snr(c, white_noise(c.size, rng=rng), snr) for c in clean]
    return noisy, clean


def spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference of compressed STFT magnitudes."""
    spec = [np.abs(np.fft.rfft(x[: x.size // 256 * 256].reshape(-1, 256), axis=1)) for x in (a, b)]
    return float(np.mean((spec[0] ** 0.3 - spec[1] ** 0.3) ** 2))


@pytest.mark.parametrize("snr", [0.0, 6.0, 12.0, -3.0])
def test_mixture_has_the_requested_snr(snr):
    rng = np.random.default_rng(1)
    clean = tone(rng)
    for noise in (white_noise(clean.size, rng=rng), babble([tone(rng), tone(rng)], 900, rng=rng)):
        noisy = mix_at_snr(clean, noise, snr)
        assert noisy.dtype == np.float32
        assert noisy.shape == clean.shape
        assert abs(snr_db(clean, noisy - clean) - snr) < 0.5
        assert abs(output_snr_db(clean, noisy) - snr) < 0.5


def test_babble_comes_from_allowed_clips_of_other_speakers_only():
    speakers = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    test = np.isin(speakers, ["a", "b"])
    for clip in np.flatnonzero(test):
        picked = babble_sources(speakers, clip, allowed=~test, rng=noise_rng(0, clip, "babble"))
        assert picked.size == 4
        assert clip not in picked
        assert set(speakers[picked]) == {"c", "d"}
    # Within the allowed clips, never the clip's own speaker, and never the clip itself.
    picked = babble_sources(speakers, 4, allowed=np.ones(8, bool), rng=noise_rng(0, 4, "babble"))
    assert "c" not in set(speakers[picked])
    assert len(set(speakers[picked])) == 3  # one clip of each other speaker first
    nobody = babble_sources(speakers, 0, allowed=speakers == "a", rng=noise_rng(0, 0, "babble"))
    assert nobody.size == 0


def test_noise_is_deterministic_under_a_seed_and_differs_across_seeds_and_clips():
    rng = np.random.default_rng(2)
    audio = [tone(rng) for _ in range(6)]
    speakers = np.array(["a", "b", "c", "a", "b", "c"])

    def noisy(seed, clip, kind="babble", snr=6.0):
        return add_noise(
            audio,
            clip,
            kind,
            snr,
            speakers=speakers,
            allowed=speakers != "a",
            rng=noise_rng(seed, clip, kind),
        )

    np.testing.assert_array_equal(noisy(3, 0), noisy(3, 0))
    assert not np.allclose(noisy(3, 0), noisy(4, 0))
    assert not np.allclose(noisy(3, 0) - audio[0], noisy(3, 3) - audio[3])
    # The same noise at every SNR: only its level changes.
    at_0, at_12 = noisy(3, 0, "white", 0.0) - audio[0], noisy(3, 0, "white", 12.0) - audio[0]
    np.testing.assert_allclose(at_0 / np.std(at_0), at_12 / np.std(at_12), atol=1e-3)
    with pytest.raises(ValueError, match="another allowed speaker"):
        add_noise(audio, 1, "babble", 0.0, speakers=speakers, allowed=speakers == "b", rng=rng)


def test_spectral_gain_raises_snr_and_keeps_shape_and_dtype():
    noisy, clean = noisy_pairs(seed=5, n=4, snr=0.0)
    enhanced = SpectralGain().fit().transform(noisy)
    for x, e, c in zip(noisy, enhanced, clean, strict=True):
        assert e.shape == x.shape
        assert e.dtype == np.float32
        assert output_snr_db(c, e) > output_snr_db(c, x) + 1.0
        assert spectral_distance(c, e) < spectral_distance(c, x)


def test_denoiser_trained_briefly_brings_held_out_audio_closer_to_clean():
    train_noisy, train_clean = noisy_pairs(seed=6, n=24, snr=3.0)
    test_noisy, test_clean = noisy_pairs(seed=7, n=6, snr=3.0)
    denoiser = RecurrentDenoiser(hidden=16, layers=1, n_steps=60, chunk_frames=64, random_state=0)
    denoiser.fit(train_noisy, train_clean)
    assert denoiser.loss_curve_[-1] < denoiser.loss_curve_[0]
    enhanced = denoiser.transform(test_noisy)
    before = np.mean([spectral_distance(c, x) for c, x in zip(test_clean, test_noisy, strict=True)])
    after = np.mean([spectral_distance(c, e) for c, e in zip(test_clean, enhanced, strict=True)])
    assert after < 0.8 * before
    for x, e in zip(test_noisy, enhanced, strict=True):
        assert e.shape == x.shape
        assert e.dtype == np.float32
    # Same seed, same model; the global torch random state is left alone.
    import torch

    state = torch.random.get_rng_state()
    again = RecurrentDenoiser(hidden=16, layers=1, n_steps=60, chunk_frames=64, random_state=0)
    again.fit(train_noisy, train_clean)
    assert torch.equal(state, torch.random.get_rng_state())
    np.testing.assert_allclose(again.transform(test_noisy[:1])[0], enhanced[0], atol=1e-5)


def test_enhancers_by_name_and_unfitted_or_mismatched_input_fails_loudly():
    assert isinstance(make_enhancer("spectral"), SpectralGain)
    assert isinstance(make_enhancer("dae", n_steps=1), RecurrentDenoiser)
    with pytest.raises(ValueError, match="unknown enhancer"):
        make_enhancer("wavelet")
    with pytest.raises(RuntimeError, match="not fitted"):
        RecurrentDenoiser().transform([np.zeros(1000, np.float32)])
    with pytest.raises(ValueError, match="1-d"):
        SpectralGain().transform([np.zeros((10, 2))])
    with pytest.raises(ValueError, match="differ in length"):
        RecurrentDenoiser(n_steps=1).fit([np.zeros(800)], [np.zeros(900)])
