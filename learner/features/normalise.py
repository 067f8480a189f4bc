"""Speaker normalisation: features standardised within each speaker.

Much of what separates two clips' features is who speaks (vocal tract, pitch range,
habitual loudness), not how they feel. Standardising every feature within a speaker,
with the statistics of all of that speaker's clips (labelled or not: no label is used),
removes it, as speaker-independent speech emotion recognition usually does (Busso et al.,
"Iterative feature normalization scheme for automatic emotion detection from speech",
IEEE TAC 2013).
"""

import numpy as np
from numpy.typing import ArrayLike, NDArray

from learner.standardise import standardise

MIN_SPEAKER_CLIPS = 10
MIN_STD = 1e-12  # a feature varying less than this (within a speaker, or at all) becomes 0


def speaker_normalise(
    X: ArrayLike, speakers: ArrayLike, *, min_clips: int = MIN_SPEAKER_CLIPS
) -> NDArray[np.float32]:
    """Z-score each feature within each speaker that has at least `min_clips` clips.

    Clips of rarer or unknown speakers (None or "") are standardised with the statistics
    of all clips instead, so every row ends on the same scale. A feature that does not
    vary (within a speaker, or at all) becomes 0.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-d (clips, features), got shape {X.shape}")
    names = np.array(["" if s is None else str(s) for s in np.asarray(speakers, dtype=object)])
    if names.shape != (len(X),):
        raise ValueError(f"{names.size} speakers for {len(X)} clips")
    unique, group, counts = np.unique(names, return_inverse=True, return_counts=True)
    # Per-speaker mean and std in one pass over the rows sorted by speaker: O(clips).
    order = np.argsort(group, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean = np.add.reduceat(X[order], starts, axis=0) / counts[:, None]
    centred = X - mean[group]
    std = np.sqrt(np.add.reduceat(centred[order] ** 2, starts, axis=0) / counts[:, None])
    own = ((counts >= min_clips) & (unique != ""))[group]
    out = standardise(X, mean[group], std[group], min_scale=MIN_STD)
    if (~own).any():
        out[~own] = standardise(X[~own], X.mean(axis=0), X.std(axis=0), min_scale=MIN_STD)
    return out.astype(np.float32)


def corpus_normalise(X: ArrayLike, corpora: ArrayLike | None = None) -> NDArray[np.float32]:
    """Z-score each feature within each corpus (`corpora`: one name per clip; None: all
    clips are one corpus). Removes what a recording set-up adds to every clip
    (microphone, room, level) and keeps what varies between its clips, speakers and
    emotions alike: the scale a prior from other corpora sees its inputs on."""
    X = np.asarray(X)
    names = np.zeros(len(X), dtype=object) if corpora is None else corpora
    return speaker_normalise(X, np.asarray(names, dtype=str), min_clips=1)
