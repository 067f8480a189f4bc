import hashlib
import json
from typing import Any

import numpy as np
from numpy.typing import NDArray


class Extractor:
    """Base of the extractors: a name, parameters, and a cache key derived from both."""

    name = "base"
    version = "1"

    def params(self) -> dict[str, Any]:
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

    def extract(self, audio: NDArray[Any], sr: int) -> NDArray[np.float32]:
        raise NotImplementedError


def as_mono_float(audio: NDArray[Any]) -> NDArray[np.float32]:
    mono: NDArray[np.float32] = np.asarray(audio, dtype=np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    return mono
