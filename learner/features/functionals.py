"""Functionals: fixed-length summaries of frame-level descriptor tracks."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

FUNCTIONALS = ("mean", "std", "p10", "p50", "p90", "range", "slope")


def functionals(frames: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """(n_frames, n_lld) -> (n_lld * 7,): mean, std, 10/50/90th percentiles, range, slope.

    The slope is the least-squares trend per second of 100 frames (10 ms hop). Empty input
    gives zeros, never NaN.
    """
    n_frames, n_lld = frames.shape
    if n_frames == 0:
        return np.zeros(n_lld * len(FUNCTIONALS), dtype=np.float32)
    p10, p50, p90 = np.percentile(frames, [10, 50, 90], axis=0)
    t = (np.arange(n_frames) - (n_frames - 1) / 2) / 100.0
    denom = float(np.sum(t**2)) or 1.0
    slope = t @ (frames - frames.mean(axis=0)) / denom
    stats = np.stack(
        [
            frames.mean(axis=0),
            frames.std(axis=0),
            p10,
            p50,
            p90,
            frames.max(axis=0) - frames.min(axis=0),
            slope,
        ]
    )
    out: NDArray[np.float32] = np.nan_to_num(stats.T.reshape(-1)).astype(np.float32)
    return out


def functional_names(lld_names: list[str]) -> list[str]:
    return [f"{lld}_{f}" for lld in lld_names for f in FUNCTIONALS]
