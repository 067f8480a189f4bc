"""eGeMAPS v02 functionals (88) with openSMILE: the field's standard minimal set."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

from learner.features.base import Extractor, as_mono_float


class EgemapsExtractor(Extractor):
    name = "egemaps"
    version = "1"

    def __init__(self) -> None:
        self._smile: Any = None

    def _get(self) -> Any:
        if self._smile is None:
            import opensmile

            self._smile = opensmile.Smile(
                feature_set=opensmile.FeatureSet.eGeMAPSv02,
                feature_level=opensmile.FeatureLevel.Functionals,
            )
        return self._smile

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_smile": None}

    @property
    def feature_names_(self) -> list[str]:
        return list(self._get().feature_names)

    def extract(self, audio: NDArray[Any], sr: int) -> NDArray[np.float32]:
        signal = as_mono_float(audio)
        if signal.size < sr // 2:  # openSMILE needs some audio; pad short clips with silence
            signal = np.pad(signal, (0, sr // 2 - signal.size))
        values: NDArray[np.float64] = self._get().process_signal(signal, sr).to_numpy()[0]
        return np.nan_to_num(values).astype(np.float32)
