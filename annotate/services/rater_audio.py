"""The copy of a clip's audio a rater gets: the same sound, not the same bytes.

A clip stored from a file that already was 16 kHz mono 16-bit WAV (EmoDB's are) is stored
byte for byte as the original, whose checksum public corpora publish, and its exact
length singles it out of a corpus too. So a rater gets the stored audio with a dither of
at most one least significant bit (-90 dB, inaudible) and 0 to 100 ms of that dither
appended: no checksum of the file or of its samples matches the corpus, and its length
says no more than the duration the rater is told (to 0.1 s). The dither is drawn from
the assignment (keyed by SECRET_KEY), so a lease's audio is the same on every fetch and
averaging repeated downloads gives nothing back.
"""

import hashlib
import hmac
import io

import numpy as np
import soundfile as sf
from django.conf import settings

from annotate.models import Assignment

MAX_PAD_SECONDS = 0.1


def _rng(assignment: Assignment) -> np.random.Generator:
    key = settings.SECRET_KEY.encode()
    digest = hmac.new(key, f"rater-audio:{assignment.pk}".encode(), hashlib.sha256).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def rater_audio_wav(*, assignment: Assignment) -> bytes:
    """The lease's clip as 16-bit WAV, dithered and padded for this assignment."""
    with assignment.clip.audio.open("rb") as handle:
        samples, rate = sf.read(handle, dtype="int16", always_2d=False)
    rng = _rng(assignment)
    pad = int(rng.integers(1, max(2, int(rate * MAX_PAD_SECONDS))))
    audio = np.concatenate([np.asarray(samples, dtype=np.int32), np.zeros(pad, np.int32)])
    audio += rng.integers(-1, 2, size=audio.shape, dtype=np.int32)
    out = io.BytesIO()
    sf.write(out, np.clip(audio, -32768, 32767).astype(np.int16), rate, format="WAV")
    return out.getvalue()
