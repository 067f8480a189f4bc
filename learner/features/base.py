import hashlib
import json

import numpy as np


class Extractor:
    """Base of the extractors: a name, parameters, and a cache key derived from both."""

    name = "base"
    version = "1"

    def params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @property
    def cache_key(self) -> str:
        blob = json.dumps(
            {"name": self.name, "version": self.version, **self.params()}, sort_keys=True
        )
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    @property
    def feature_names_(self) -> list[str]:
        raise NotImplementedError

    def extract(self, audio: np.ndarray, sr: int) -> np.ndarray:
        raise NotImplementedError


def as_mono_float(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return audio
