"""Feature extractors: frame-level descriptors and their functionals, or openSMILE's
eGeMAPS or ComParE 2016 functionals (also of audio resampled to 16 kHz: "compare16k").

    extractor = get_extractor("librosa")
    vector = extractor.extract(audio, sr)          # clip functionals, 1-d

An extractor's `cache_key` names it with its parameters and version: stored features are
reused only for the same key.
"""

from typing import Any

from learner.features.base import Extractor
from learner.features.egemaps import (
    Compare16kExtractor,
    CompareExtractor,
    EgemapsExtractor,
    OpensmileExtractor,
)
from learner.features.lld import LibrosaExtractor
from learner.features.normalise import corpus_normalise, speaker_normalise

EXTRACTORS: dict[str, type[Extractor]] = {
    LibrosaExtractor.name: LibrosaExtractor,
    EgemapsExtractor.name: EgemapsExtractor,
    CompareExtractor.name: CompareExtractor,
    Compare16kExtractor.name: Compare16kExtractor,
}


def get_extractor(name: str = "librosa", **params: Any) -> Extractor:
    try:
        cls = EXTRACTORS[name]
    except KeyError:
        raise ValueError(
            f"unknown feature extractor {name!r}; known: {', '.join(EXTRACTORS)}"
        ) from None
    return cls(**params)


__all__ = [
    "EXTRACTORS",
    "Compare16kExtractor",
    "CompareExtractor",
    "EgemapsExtractor",
    "Extractor",
    "LibrosaExtractor",
    "OpensmileExtractor",
    "corpus_normalise",
    "get_extractor",
    "speaker_normalise",
]
