"""Decoding, converting and summarising audio: pure functions, no database.

Every clip is stored once as 16 kHz mono 16-bit PCM WAV. Anything that is not
decodable audio is refused with a reason a person can act on.

Decoding is bounded whatever a file's header claims: the header is checked first
(format, channels, sample rate, duration), then the audio is read in blocks of
`BLOCK_FRAMES` frames, each block mixed down to mono and resampled to 16 kHz as it
arrives, so memory grows with the 16 kHz mono result, never with the channels or the
sample rate of the original. The frames actually decoded are counted against the
duration limit (a header may lie, and some formats only estimate their length), and
a wall-time limit stops a decode that takes too long.
"""

import hashlib
import io
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

TARGET_SR = 16000
N_PEAKS = 400
SUPPORTED = {"WAV", "WAVEX", "FLAC", "OGG", "MP3", "AIFF", "W64", "RF64", "CAF"}
MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 192000
MAX_CHANNELS = 32
BLOCK_FRAMES = 65536
DEFAULT_DECODE_SECONDS = 120.0


class AudioError(ValueError):
    """A file Concord cannot take, with the reason."""


class DecodeTimeout(AudioError):
    """Decoding ran past its wall-time limit."""


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


def _info(data: bytes, max_seconds: float) -> sf._SoundFileInfo:
    """The header, checked before a single sample is decoded."""
    if not data:
        raise AudioError("the file is empty")
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"not a readable audio file ({_reason(exc)})") from None
    if info.format not in SUPPORTED:
        raise AudioError(f"unsupported audio format {info.format}")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise AudioError(f"{info.channels} channels (at most {MAX_CHANNELS} are accepted)")
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"sample rate {info.samplerate} Hz (accepted: {MIN_SAMPLE_RATE} to "
            f"{MAX_SAMPLE_RATE} Hz)"
        )
    duration = info.frames / info.samplerate
    if duration > max_seconds * 1.01:  # checked before decoding a huge file
        raise AudioError(f"too long: {duration:.1f} s (the limit is {max_seconds:g} s)")
    if info.format in {"WAV", "WAVEX"} and _wav_data_missing(data):
        raise AudioError("truncated: the file holds less audio than its header declares")
    return info


def _wav_data_missing(data: bytes) -> bool:
    """True when a RIFF WAVE file's data chunk declares more bytes than the file holds
    (a truncated file, or a header that lies). The placeholders streaming writers use
    for an unknown length (0 and 0xFFFFFFFF) are not lies."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    at = 12
    for _ in range(64):  # a WAV's data chunk comes early; never walk a hostile maze
        if at + 8 > len(data):
            break
        chunk, size = data[at : at + 4], struct.unpack_from("<I", data, at + 4)[0]
        if chunk == b"data":
            return size not in (0, 0xFFFFFFFF) and size > len(data) - (at + 8)
        at += 8 + size + (size & 1)
    return False


def _truncation(info: sf._SoundFileInfo, data: bytes, decoded_frames: int) -> str | None:
    """Why the decoded audio is shorter than its header promises, if it is."""
    promised = info.frames
    # MP3 decoders pad and trim frames, and an MP3 without a Xing header only has an
    # estimate of its length: a wide margin there, a narrow one for exact headers.
    if info.format == "MP3":
        slack = max(0.5 * info.samplerate, 0.1 * promised)
    else:
        slack = max(0.05 * info.samplerate, 0.02 * promised)
    if 0 < promised < 2**62 and decoded_frames < promised - slack:
        return (
            f"truncated: the header promises {promised / info.samplerate:.1f} s, the file "
            f"holds {decoded_frames / info.samplerate:.1f} s"
        )
    return None


def _mono_16k(
    data: bytes, *, channels: int, sr: int, max_seconds: float, max_decode_seconds: float
) -> tuple[np.ndarray, int]:
    """The audio as 16 kHz mono float32 and the number of frames decoded, block by
    block (memory: one block of the original plus the 16 kHz result)."""
    deadline = time.monotonic() + max_decode_seconds
    max_frames = int(max_seconds * sr) + 1
    resampler = (
        soxr.ResampleStream(sr, TARGET_SR, 1, dtype="float32", quality="HQ")
        if sr != TARGET_SR
        else None
    )
    block = np.empty((BLOCK_FRAMES, channels), dtype=np.float32)
    parts: list[np.ndarray] = []
    frames = 0
    with sf.SoundFile(io.BytesIO(data)) as f:
        if f.channels != channels or f.samplerate != sr:
            raise AudioError("corrupt audio (the header changed while reading)")
        while True:
            got = f.read(out=block)
            if got.shape[0] == 0:
                break
            frames += got.shape[0]
            if frames > max_frames:
                raise AudioError(
                    f"too long: more than {max_seconds:g} s of audio decoded "
                    f"(the limit is {max_seconds:g} s)"
                )
            if time.monotonic() > deadline:
                raise DecodeTimeout(
                    f"decoding took longer than {max_decode_seconds:g} s; "
                    "convert the file to a plain WAV or FLAC first"
                )
            if not np.isfinite(got).all():
                raise AudioError("corrupt audio (samples are not finite)")
            mono = got[:, 0].copy() if channels == 1 else got.mean(axis=1, dtype=np.float32)
            parts.append(resampler.resample_chunk(mono) if resampler else mono)
    if frames == 0:
        raise AudioError("the audio has no samples")
    if resampler:
        parts.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(parts).astype(np.float32, copy=False), frames


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


def decode(
    data: bytes, *, max_seconds: float, max_decode_seconds: float = DEFAULT_DECODE_SECONDS
) -> DecodedClip:
    """Decode any supported file to 16 kHz mono WAV bytes, or raise AudioError."""
    info = _info(data, max_seconds)
    try:
        mono, frames = _mono_16k(
            data,
            channels=info.channels,
            sr=info.samplerate,
            max_seconds=max_seconds,
            max_decode_seconds=max_decode_seconds,
        )
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"corrupt audio ({_reason(exc)})") from None
    except MemoryError:
        raise AudioError("too large to decode") from None
    if mono.size == 0:
        raise AudioError("the audio has no samples")
    if (truncated := _truncation(info, data, frames)) is not None:
        raise AudioError(truncated)
    np.clip(mono, -1.0, 1.0, out=mono)
    out = io.BytesIO()
    sf.write(out, mono, TARGET_SR, format="WAV", subtype="PCM_16")
    return DecodedClip(
        wav_bytes=out.getvalue(),
        sha256=sha256_of(data),
        duration_s=round(mono.size / TARGET_SR, 4),
        original_sample_rate=info.samplerate,
        original_channels=info.channels,
        original_format=info.format,
        peaks=peaks(mono),
    )


def decode_file(
    path: str, max_seconds: float, max_decode_seconds: float = DEFAULT_DECODE_SECONDS
) -> DecodedClip | str:
    """A decoded file, or the reason it cannot be taken (for worker processes: whatever
    goes wrong with one file is that file's reason, never the batch's crash)."""
    try:
        return decode(
            Path(path).read_bytes(), max_seconds=max_seconds, max_decode_seconds=max_decode_seconds
        )
    except AudioError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    except Exception as exc:  # a decoder bug must not sink the batch
        return decode_crash_reason(exc)


def decode_crash_reason(exc: BaseException) -> str:
    """The reason given for a file whose decoding failed unexpectedly."""
    return f"could not be decoded ({type(exc).__name__}); the other files are not affected"
