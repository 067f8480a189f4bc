"""openSMILE functionals: eGeMAPS v02 (88), the field's standard minimal set, and
ComParE 2016 (6,373), the large brute-force set."""

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from learner.features.base import Extractor, as_mono_float


class OpensmileExtractor(Extractor):
    """Functionals of one openSMILE feature set; subclasses name the set.

    The set is a class attribute, not a parameter: it is already named by `name`, so the
    cache keys of features stored before this base existed stay the same.
    """

    feature_set: ClassVar[str] = ""  # an opensmile.FeatureSet member name

    def __init__(self) -> None:
        self._smile: Any = None

    def _get(self) -> Any:
        if self._smile is None:
            import opensmile

            self._smile = opensmile.Smile(
                feature_set=opensmile.FeatureSet[self.feature_set],
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


class EgemapsExtractor(OpensmileExtractor):
    name = "egemaps"
    version = "1"
    feature_set = "eGeMAPSv02"


class CompareExtractor(OpensmileExtractor):
    """ComParE 2016 functionals (6,373): about 16 ms of CPU per second of audio."""

    name = "compare"
    version = "1"
    feature_set = "ComParE_2016"
