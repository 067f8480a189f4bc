"""Additive noise at a chosen signal-to-noise ratio: white noise, and babble made from
other clips (seed section 3: noise added to clean speech at 0-12 dB SNR).

    rng = noise_rng(seed, clip_index, "babble")
    sources = babble_sources(speakers, clip_index, allowed=~test_mask, rng=rng)
    noise = babble([audio[i] for i in sources], len(audio[clip_index]), rng=rng)
    noisy = mix_at_snr(audio[clip_index], noise, 6.0)

The SNR is measured over the whole clip: the power of every sample of the clean signal
over the power of the noise added (pauses count as signal, so a clip with long silences
is a little noisier during speech than its nominal SNR). Plain numpy; every random draw
comes from a generator the caller seeds.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

NOISE_KINDS = ("white", "babble")
BABBLE_TALKERS = 4
_EPS = 1e-12
_KIND_CODES = {"white": 1, "babble": 2}


def power(signal: ArrayLike) -> float:
    """Mean power of a signal (mean squared sample)."""
    x = np.asarray(signal, dtype=np.float64)
    return float(np.mean(x * x)) if x.size else 0.0


def snr_db(clean: ArrayLike, noise: ArrayLike) -> float:
    """10 log10 of the clean signal's power over the noise's power."""
    return float(10.0 * np.log10((power(clean) + _EPS) / (power(noise) + _EPS)))


def output_snr_db(clean: ArrayLike, estimate: ArrayLike) -> float:
    """SNR of an estimate of the clean signal: the clean power over the power of the
    estimate's error (for a noisy mixture, its nominal SNR)."""
    reference = np.asarray(clean, dtype=np.float64)
    error = np.asarray(estimate, dtype=np.float64) - reference
    return snr_db(reference, error)


def noise_rng(seed: int, clip: int, purpose: str | int) -> np.random.Generator:
    """The generator of one clip's noise for one purpose (a noise kind, or a training
    variant number): the same draws for the same (seed, clip, purpose) whatever else runs,
    and the same noise at every SNR (only its level changes)."""
    code = _KIND_CODES[purpose] if isinstance(purpose, str) else 100 + int(purpose)
    return np.random.default_rng([int(seed), int(clip), code])


def white_noise(n_samples: int, *, rng: np.random.Generator) -> NDArray[np.float32]:
    """Gaussian white noise of unit power."""
    return rng.standard_normal(n_samples).astype(np.float32)


def _fit_length(signal: NDArray[Any], n_samples: int, offset: int) -> NDArray[np.float64]:
    """`signal` started at `offset` and repeated (circularly) to `n_samples`."""
    x = np.asarray(signal, dtype=np.float64)
    return np.take(x, (offset + np.arange(n_samples)) % x.size)


def babble(
    clips: Sequence[ArrayLike], n_samples: int, *, rng: np.random.Generator
) -> NDArray[np.float32]:
    """Babble of `n_samples`: the sum of `clips`, each brought to unit power, started at a
    random point and repeated to the length; the sum is brought to unit power."""
    if not clips:
        raise ValueError("babble needs at least one clip")
    total = np.zeros(n_samples, dtype=np.float64)
    for clip in clips:
        x = np.asarray(clip, dtype=np.float64)
        if x.size == 0:
            continue
        x = x / np.sqrt(power(x) + _EPS)
        total += _fit_length(x, n_samples, int(rng.integers(x.size)))
    out: NDArray[np.float32] = (total / np.sqrt(power(total) + _EPS)).astype(np.float32)
    return out


def babble_sources(
    speakers: ArrayLike,
    clip: int,
    *,
    allowed: ArrayLike,
    rng: np.random.Generator,
    n_talkers: int = BABBLE_TALKERS,
) -> NDArray[np.intp]:
    """Indices of the clips whose sum is the babble under `clip`: `n_talkers` clips drawn
    among those `allowed` (a boolean mask over clips, e.g. every clip outside the test
    speakers), never `clip` itself nor its speaker, from as many different speakers as
    possible. Empty when no clip qualifies."""
    names = np.asarray(speakers).astype(str)
    ok = np.asarray(allowed, dtype=bool) & (names != names[clip])
    ok[clip] = False
    candidates = np.flatnonzero(ok)
    if candidates.size == 0:
        return candidates
    # One clip per speaker first (different voices), then more of the same speakers.
    order = rng.permutation(candidates)
    _, first = np.unique(names[order], return_index=True)
    distinct = order[np.sort(first)]
    rest = np.setdiff1d(order, distinct, assume_unique=True)
    picked: NDArray[np.intp] = np.concatenate([rng.permutation(distinct), rng.permutation(rest)])
    return picked[:n_talkers]


def mix_at_snr(clean: ArrayLike, noise: ArrayLike, snr: float) -> NDArray[np.float32]:
    """`clean` plus `noise` scaled so that their SNR is `snr` dB (noise repeated or cut to
    the clean length). Shape of `clean`; float32."""
    x = np.asarray(clean, dtype=np.float64)
    n = _fit_length(np.asarray(noise).ravel(), x.size, 0).reshape(x.shape)
    gain = np.sqrt(power(x) / (power(n) + _EPS) / 10.0 ** (snr / 10.0))
    mixed: NDArray[np.float32] = (x + gain * n).astype(np.float32)
    return mixed


def make_noise(
    kind: str,
    n_samples: int,
    *,
    rng: np.random.Generator,
    others: Sequence[ArrayLike] = (),
) -> NDArray[np.float32]:
    """Noise of `kind` ("white", or "babble" from the clips `others`)."""
    if kind == "white":
        return white_noise(n_samples, rng=rng)
    if kind == "babble":
        return babble(others, n_samples, rng=rng)
    raise ValueError(f"unknown noise {kind!r}; known: {', '.join(NOISE_KINDS)}")


def add_noise(
    audio: Sequence[NDArray[Any]],
    clip: int,
    kind: str,
    snr: float,
    *,
    speakers: ArrayLike,
    allowed: ArrayLike,
    rng: np.random.Generator,
) -> NDArray[np.float32]:
    """Clip `clip` of `audio` with `kind` noise at `snr` dB; babble from other clips that
    are `allowed` and of other speakers (ValueError where there are none)."""
    clean = audio[clip]
    others: list[NDArray[Any]] = []
    if kind == "babble":
        sources = babble_sources(speakers, clip, allowed=allowed, rng=rng)
        if sources.size == 0:
            raise ValueError(f"no clip of another allowed speaker to make babble for clip {clip}")
        others = [audio[i] for i in sources]
    return mix_at_snr(clean, make_noise(kind, len(clean), rng=rng, others=others), snr)
