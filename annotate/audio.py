"""Decoding, converting and summarising audio: pure functions, no database.

Every clip is stored once as 16 kHz mono 16-bit PCM WAV. Anything that is not
decodable audio is refused with a reason a person can act on.
"""

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

TARGET_SR = 16000
N_PEAKS = 400
SUPPORTED = {"WAV", "WAVEX", "FLAC", "OGG", "MP3", "AIFF", "W64", "RF64", "CAF"}


class AudioError(ValueError):
    """A file Concord cannot take, with the reason."""


@dataclass(frozen=True)
class DecodedClip:
    wav_bytes: bytes
    sha256: str
    duration_s: float
    original_sample_rate: int
    original_channels: int
    original_format: str
    peaks: list[float]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(data: bytes, max_seconds: float) -> tuple[np.ndarray, int, int, str]:
    if not data:
        raise AudioError("the file is empty")
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"not a readable audio file ({_reason(exc)})") from None
    if info.format not in SUPPORTED:
        raise AudioError(f"unsupported audio format {info.format}")
    if info.duration > max_seconds * 1.01:  # checked before decoding a huge file
        raise AudioError(f"too long: {info.duration:.1f} s (the limit is {max_seconds:g} s)")
    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"corrupt audio ({_reason(exc)})") from None
    return audio, sr, info.channels, info.format


def _reason(exc: Exception) -> str:
    return str(exc).split(":")[-1].strip() or type(exc).__name__


def peaks(samples: np.ndarray, n: int = N_PEAKS) -> list[float]:
    """Absolute maxima of `n` equal slices, scaled to the loudest: enough to draw a waveform."""
    if samples.size == 0:
        return []
    n = min(n, samples.size)
    edges = np.linspace(0, samples.size, n + 1).astype(int)
    maxima = np.maximum.reduceat(np.abs(samples), edges[:-1])
    top = float(maxima.max())
    return [round(float(v) / top, 3) if top > 0 else 0.0 for v in maxima]


def decode(data: bytes, *, max_seconds: float) -> DecodedClip:
    """Decode any supported file to 16 kHz mono WAV bytes, or raise AudioError."""
    audio, sr, channels, fmt = _read(data, max_seconds)
    frames = audio.shape[0]
    if frames == 0:
        raise AudioError("the audio has no samples")
    duration = frames / sr
    if duration > max_seconds:
        raise AudioError(f"too long: {duration:.1f} s (the limit is {max_seconds:g} s)")
    if not np.isfinite(audio).all():
        raise AudioError("corrupt audio (samples are not finite)")
    mono = audio.mean(axis=1)
    if sr != TARGET_SR:
        mono = soxr.resample(mono, sr, TARGET_SR, quality="HQ").astype(np.float32)
    mono = np.clip(mono, -1.0, 1.0)
    out = io.BytesIO()
    sf.write(out, mono, TARGET_SR, format="WAV", subtype="PCM_16")
    return DecodedClip(
        wav_bytes=out.getvalue(),
        sha256=sha256_of(data),
        duration_s=round(mono.size / TARGET_SR, 4),
        original_sample_rate=sr,
        original_channels=channels,
        original_format=fmt,
        peaks=peaks(mono),
    )


def decode_file(path: str, max_seconds: float) -> DecodedClip | str:
    """A decoded file, or the reason it cannot be taken (for worker processes)."""
    try:
        return decode(Path(path).read_bytes(), max_seconds=max_seconds)
    except AudioError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
