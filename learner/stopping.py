"""When more human ratings add little: a stop signal from the development learning curve.

The input is a learning curve: after each round, the human ratings spent so far and the
development CCC per target of the model trained on them. The curve must come from
development labels only, never from test gold: a rule tuned on test gold would leak it
into the decision of how much to label, and the reported test CCC would be optimistic.

The rule, per round `i` and per target:

1. Fit CCC against log(cost) by least squares over the rounds whose cost is at least
   `cost_i / span` (by default the rounds that spent the second half of the ratings so
   far). Learning curves are close to linear in log(cost) near their plateau, and a fit
   over many noisy points is steadier than any single difference.
2. Project the gain of spending another `extra` fraction of the ratings spent so far:
   `slope * log(1 + extra)`, with the slope raised by `z` standard errors of the fit so
   that noise on a small dev set makes the rule wait rather than fire.
3. The round is *flat* when, for every measured target, that projected gain is under
   `tolerance` and the fitted CCC at `cost_i` is above `min_ccc` (a model at chance has
   nothing to plateau at; with `dev_ccc_low`, the bootstrap lower bound must also be
   above 0), and the curve has at least `min_rounds` points.

The signal fires at the first round that closes `patience` consecutive flat rounds, so
it never fires on the first jump or dip. Every choice leans late: a signal that fires too
early costs the researcher a model they could have had, one that fires a little late only
costs some ratings, and a stop signal the user can trust matters more than the last few.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class StopSignal:
    """Whether to stop rating, where, and why.

    `plateau` holds the fitted dev CCC per target and `gain` the projected gain (upper
    bound) for `extra` more ratings, both at the firing round (`round_index`), or at the
    last round when the signal has not fired; None where a target could not be evaluated.
    `flat` tells, per round up to the firing round, whether the stopping condition held.
    """

    fired: bool
    at_cost: int | None
    round_index: int | None
    targets: tuple[str, ...]
    plateau: tuple[float | None, ...]
    gain: tuple[float | None, ...]
    flat: tuple[bool, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, with per-target values keyed by target name."""
        return {
            "fired": self.fired,
            "at_cost": self.at_cost,
            "round_index": self.round_index,
            "plateau": dict(zip(self.targets, self.plateau, strict=True)),
            "gain": dict(zip(self.targets, self.gain, strict=True)),
            "flat": list(self.flat),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class _Fit:
    level: float
    gain: float


def _fit(log_cost: NDArray[np.float64], ccc: NDArray[np.float64], extra: float, z: float) -> _Fit:
    """Least-squares line of `ccc` on `log_cost`; level at the last cost, gain upper bound."""
    x = log_cost - log_cost.mean()
    sxx = float(np.dot(x, x))
    slope = float(np.dot(x, ccc - ccc.mean())) / sxx
    level = float(ccc.mean()) + slope * float(x[-1])
    residual = ccc - ccc.mean() - slope * x
    dof = ccc.size - 2
    se = math.sqrt(float(np.dot(residual, residual)) / dof / sxx) if dof > 0 else math.inf
    return _Fit(level=level, gain=max(0.0, slope + z * se) * math.log1p(extra))


def _as_curve(values: ArrayLike, rounds: int, name: str) -> NDArray[np.float64]:
    curve = np.asarray(values, dtype=np.float64)
    if curve.ndim == 1:
        curve = curve[:, np.newaxis]
    if curve.ndim != 2 or curve.shape[0] != rounds:
        raise ValueError(
            f"{name} must have one row per round: {rounds} costs but shape {curve.shape}"
        )
    finite = curve[np.isfinite(curve)]
    if np.any(np.abs(finite) > 1.0):
        raise ValueError(f"{name} must lie in [-1, 1] (NaN for missing)")
    return curve


def stop_signal(
    costs: Sequence[int] | ArrayLike,
    dev_ccc: ArrayLike,
    *,
    tolerance: float = 0.01,
    extra: float = 0.5,
    patience: int = 2,
    min_rounds: int = 4,
    min_ccc: float = 0.1,
    span: float = 2.0,
    z: float = 1.0,
    dev_ccc_low: ArrayLike | None = None,
    targets: Sequence[str] | None = None,
) -> StopSignal:
    """Decide from a development learning curve whether more ratings add little.

    `costs` are the human ratings spent at each round (positive, strictly increasing);
    `dev_ccc` is (rounds, targets), or (rounds,) for one target, with NaN or None where a
    target was not measured; `dev_ccc_low` optionally the bootstrap lower bounds, same
    shape. See the module docstring for the rule and its parameters.
    """
    cost = np.asarray(costs)
    if cost.ndim != 1 or cost.size == 0:
        raise ValueError("costs must be a non-empty one-dimensional sequence")
    if not np.issubdtype(cost.dtype, np.integer) and (
        not np.all(np.isfinite(cost)) or not np.all(cost == np.round(cost))
    ):
        raise ValueError("costs must be whole numbers of ratings")
    if np.any(cost <= 0):
        raise ValueError("costs must be positive numbers of ratings")
    if np.any(np.diff(cost) <= 0):
        raise ValueError("costs must be strictly increasing from round to round")
    rounds = cost.size
    ccc = _as_curve(dev_ccc, rounds, "dev_ccc")
    low = None if dev_ccc_low is None else _as_curve(dev_ccc_low, rounds, "dev_ccc_low")
    if low is not None and low.shape != ccc.shape:
        raise ValueError(f"dev_ccc_low has shape {low.shape}, dev_ccc {ccc.shape}")
    n_targets = ccc.shape[1]
    names = tuple(targets) if targets is not None else tuple(str(t) for t in range(n_targets))
    if len(names) != n_targets:
        raise ValueError(f"{len(names)} target names for {n_targets} dev_ccc columns")
    if not tolerance > 0 or not extra > 0 or not span > 1 or not z >= 0:
        raise ValueError("tolerance and extra must be > 0, span > 1 and z >= 0")
    if patience < 1 or min_rounds < 3:
        raise ValueError("patience must be >= 1 and min_rounds >= 3")

    log_cost = np.log(cost.astype(np.float64))
    flat: list[bool] = []
    fits: list[list[_Fit | None]] = []
    why: list[str] = []
    for i in range(rounds):
        window = log_cost[: i + 1] >= log_cost[i] - math.log(span)
        window[max(0, i - 2) : i + 1] = True  # at least three rounds when there are three
        row: list[_Fit | None] = []
        blockers: list[str] = []
        for t, name in enumerate(names):
            seen = np.isfinite(ccc[: i + 1, t])
            if not seen.any():
                row.append(None)  # target not measured yet: it neither blocks nor counts
                continue
            use = window & seen
            if use.sum() < 3:
                row.append(None)
                blockers.append(f"{name} has under 3 measured rounds to fit")
                continue
            fit = _fit(log_cost[: i + 1][use], ccc[: i + 1, t][use], extra, z)
            row.append(fit)
            if fit.level <= min_ccc:
                blockers.append(f"{name} is near chance (CCC {fit.level:.3f} <= {min_ccc:g})")
            elif low is not None and not low[i, t] > 0.0:
                blockers.append(f"{name}'s bootstrap lower bound is not above 0")
            elif fit.gain >= tolerance:
                blockers.append(f"{name} still rising by {fit.gain:.3f}")
        if i + 1 < min_rounds:
            blockers.insert(0, f"only {i + 1} of {min_rounds} rounds")
        if all(f is None for f in row):
            blockers.append("no target measured")
        fits.append(row)
        flat.append(not blockers)
        why.append("; ".join(blockers))
        if len(flat) >= patience and all(flat[-patience:]):
            return _signal(True, cost, i, names, row, flat, extra, tolerance, patience, "")
    return _signal(
        False, cost, rounds - 1, names, fits[-1], flat, extra, tolerance, patience, why[-1]
    )


def _signal(
    fired: bool,
    cost: NDArray[Any],
    i: int,
    names: tuple[str, ...],
    row: list[_Fit | None],
    flat: list[bool],
    extra: float,
    tolerance: float,
    patience: int,
    blockers: str,
) -> StopSignal:
    more = round(int(cost[i]) * extra)
    gains = ", ".join(f"{n} {f.gain:.3f}" for n, f in zip(names, row, strict=True) if f)
    if fired:
        reason = (
            f"projected development CCC gain from {more} more ratings ({extra:.0%} of "
            f"{int(cost[i])}) is {gains}, under {tolerance:g} for {patience} consecutive "
            "rounds: more ratings add little"
        )
    else:
        if not blockers:
            blockers = f"flat for fewer than {patience} consecutive rounds"
        reason = f"not yet at {int(cost[i])} ratings: {blockers}"
        if gains:
            reason += f" (projected gain from {more} more ratings: {gains})"
    return StopSignal(
        fired=fired,
        at_cost=int(cost[i]) if fired else None,
        round_index=i if fired else None,
        targets=names,
        plateau=tuple(None if f is None else round(f.level, 6) for f in row),
        gain=tuple(None if f is None else round(f.gain, 6) for f in row),
        flat=tuple(flat),
        reason=reason,
    )
