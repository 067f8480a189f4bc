"""Functionals: fixed-length summaries of frame-level descriptor tracks."""

import numpy as np

FUNCTIONALS = ("mean", "std", "p10", "p50", "p90", "range", "slope")


def functionals(frames: np.ndarray) -> np.ndarray:
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
    return np.nan_to_num(stats.T.reshape(-1)).astype(np.float32)


def functional_names(lld_names: list[str]) -> list[str]:
    return [f"{lld}_{f}" for lld in lld_names for f in FUNCTIONALS]


def window_functionals(frames: np.ndarray, *, window: int, step: int) -> np.ndarray:
    """Mean and std of every LLD over sliding windows centred on each step.

    (n_frames, n_lld) -> (ceil(n_frames / step), 2 * n_lld), computed with cumulative sums
    so that long clips stay cheap; windows are cut at the clip's edges.
    """
    n_frames, n_lld = frames.shape
    centres = np.arange(0, n_frames, step)
    if n_frames == 0:
        return np.zeros((0, 2 * n_lld), dtype=np.float32)
    start = np.clip(centres - window // 2, 0, n_frames)
    stop = np.clip(centres + window // 2 + 1, 0, n_frames)
    c1 = np.vstack([np.zeros(n_lld), np.cumsum(frames, axis=0)])
    c2 = np.vstack([np.zeros(n_lld), np.cumsum(frames.astype(np.float64) ** 2, axis=0)])
    count = (stop - start)[:, None]
    mean = (c1[stop] - c1[start]) / count
    var = np.maximum((c2[stop] - c2[start]) / count - mean**2, 0.0)
    return np.hstack([mean, np.sqrt(var)]).astype(np.float32)
