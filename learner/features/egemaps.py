"""openSMILE functionals: eGeMAPS v02 (88), the field's standard minimal set, and
ComParE 2016 (6,373), the large brute-force set, also on audio resampled to 16 kHz."""

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
    # Audio sampled faster is resampled to this rate first (None: processed as it is).
    max_sample_rate: ClassVar[int | None] = None

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
        if self.max_sample_rate is not None and sr > self.max_sample_rate:
            import soxr

            signal = soxr.resample(signal, sr, self.max_sample_rate).astype(np.float32)
            sr = self.max_sample_rate
        if signal.size < sr // 2:  # openSMILE needs some audio; pad short clips with silence
            signal = np.pad(signal, (0, sr // 2 - signal.size))
        # Smile.__call__ returns (channels, features, frames) as numpy: the same values as
        # process_signal without building a pandas frame of thousands of columns per clip.
        values: NDArray[np.float64] = np.asarray(self._get()(signal, sr)).reshape(-1)
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


class Compare16kExtractor(OpensmileExtractor):
    """ComParE 2016 functionals of the audio resampled to 16 kHz when sampled faster.

    openSMILE's cost grows with the sample rate: on 48 kHz RAVDESS, ComParE takes about
    33 ms of CPU per second of audio (30x real time) against 18 ms on 16 kHz EmoDB; at
    16 kHz the set's bands (up to 8 kHz) still cover speech, as in the ComParE
    challenges, and the cost is that of 16 kHz audio. Features of 16 kHz audio are the
    same as `CompareExtractor`'s; the benchmarks, which resample every corpus to 16 kHz
    with soxr as this does (bench.label_efficiency.protocol.corpus_features), measured
    these features under the name "compare".
    """

    name = "compare16k"
    version = "1"
    feature_set = "ComParE_2016"
    max_sample_rate = 16000
