"""The demo corpus: valid corpus format, deterministic, and its acoustics follow its labels."""

import csv
import hashlib

import librosa
import numpy as np
import soundfile as sf

from annotate.synthetic import COLUMNS, corpus_write


def read_rows(root):
    with (root / "clips.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_corpus_format_and_determinism(tmp_path):
    a = read_rows(corpus_write(tmp_path / "a", n_clips=6, seed=1))
    b = read_rows(corpus_write(tmp_path / "b", n_clips=6, seed=1))
    assert list(a[0]) == COLUMNS
    assert a == b
    for row in a:
        audio, sr = sf.read(tmp_path / "a" / row["path"])
        assert sr == 16000
        assert audio.ndim == 1
        assert len(audio) / sr == float(row["duration_s"])
        assert (
            hashlib.sha256((tmp_path / "a" / row["path"]).read_bytes()).hexdigest() == row["sha256"]
        )
        assert -1 <= float(row["arousal"]) <= 1
        assert -1 <= float(row["valence"]) <= 1


def test_loudness_and_pitch_follow_arousal(tmp_path):
    rows = read_rows(corpus_write(tmp_path, n_clips=24, seed=2))
    arousal, rms, pitch = [], [], []
    for row in rows:
        audio, sr = sf.read(tmp_path / row["path"], dtype="float32")
        arousal.append(float(row["arousal"]))
        rms.append(float(np.sqrt(np.mean(audio**2))))
        f0 = librosa.yin(audio, fmin=70, fmax=500, sr=sr)
        # Relative to the speaker's own range, as listeners hear it.
        pitch.append(float(np.median(f0)) / {"m": 120.0, "f": 215.0}[row["speaker"][0]])
    assert np.corrcoef(arousal, rms)[0, 1] > 0.7
    assert np.corrcoef(arousal, pitch)[0, 1] > 0.7
