"""The stop signal: fires after a learning curve's knee, never on chance or a rising curve."""

import json
import math

import numpy as np
import pytest

from learner.stopping import StopSignal, stop_signal

COSTS = np.arange(100, 4001, 100)
ASYMPTOTE = 0.8
NEAR_PLATEAU = 300 * math.log(20)  # cost where 0.8 * (1 - exp(-cost / 300)) reaches 95 %


def saturating(seed: int, sd: float = 0.01) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ASYMPTOTE * (1 - np.exp(-COSTS / 300)) + rng.normal(0, sd, COSTS.size)


def test_saturating_curve_fires_after_the_knee_on_most_seeds() -> None:
    fired_at = []
    for seed in range(50):
        signal = stop_signal(COSTS, saturating(seed))
        if signal.fired:
            assert signal.at_cost is not None
            assert signal.round_index is not None
            assert COSTS[signal.round_index] == signal.at_cost
            assert "add little" in signal.reason
            fired_at.append(signal.at_cost)
    too_early = sum(cost < NEAR_PLATEAU for cost in fired_at) / 50
    assert too_early <= 0.10
    assert len(fired_at) >= 45  # it does fire, within the budget, on most seeds


def test_fired_signal_reports_a_plateau_near_the_asymptote() -> None:
    signal = stop_signal(COSTS, saturating(0), targets=["arousal"])
    assert signal.fired
    (level,) = signal.plateau
    (gain,) = signal.gain
    assert level is not None
    assert abs(level - ASYMPTOTE) < 0.03
    assert gain is not None
    assert 0 <= gain < 0.01


def test_steadily_rising_curve_never_fires() -> None:
    rng = np.random.default_rng(1)
    # 0.1 CCC per doubling of ratings: 50 % more ratings always buy about 0.06.
    rising = 0.1 * np.log2(COSTS / 100) / 6 * 1.5 + rng.normal(0, 0.01, COSTS.size)
    signal = stop_signal(COSTS, np.clip(rising, -1, 1))
    assert not signal.fired
    assert signal.at_cost is None
    assert signal.reason.startswith("not yet")
    assert "still rising" in signal.reason


@pytest.mark.parametrize("seed", range(10))
def test_flat_curve_at_chance_never_fires(seed: int) -> None:
    rng = np.random.default_rng(seed)
    chance = rng.normal(0, 0.02, COSTS.size)
    signal = stop_signal(COSTS, chance)
    assert not signal.fired
    assert "chance" in signal.reason
    assert not any(signal.flat)


def test_patience_stops_a_single_flat_round_from_firing() -> None:
    # Rising, then a single round where the condition holds, then rising again.
    costs = [100, 200, 300, 400, 500, 600]
    flat_once = stop_signal(costs, [0.3, 0.5, 0.6, 0.6, 0.6, 0.6], patience=1, span=1.5, z=0)
    assert flat_once.fired
    first = flat_once.round_index
    assert first is not None
    waiting = stop_signal(costs[: first + 1], [0.3, 0.5, 0.6, 0.6, 0.6, 0.6][: first + 1])
    assert not waiting.fired
    assert waiting.flat[-1]
    assert "consecutive" in waiting.reason


def test_a_single_noisy_jump_does_not_fire() -> None:
    # Early rounds on a small dev set: one lucky jump to a high CCC, then level.
    jump = [0.05, 0.06, 0.55, 0.56, 0.55]
    signal = stop_signal([100, 200, 300, 400, 500], jump)
    assert not signal.fired
    assert signal.flat[2] is False


def test_plateau_in_one_target_is_not_enough() -> None:
    plateaued = saturating(3)
    rising = np.clip(0.05 * np.log(COSTS / 50), -1, 1)
    signal = stop_signal(COSTS, np.column_stack([plateaued, rising]), targets=["a", "v"])
    assert not signal.fired
    assert "v still rising" in signal.reason
    assert "a still rising" not in signal.reason


def test_missing_targets_and_none_values_are_handled() -> None:
    curve = saturating(4)
    unmeasured = [None] * COSTS.size
    gappy: list[float | None] = [float(v) for v in saturating(5)]
    gappy[10] = None
    gappy[25] = None
    rows = [[a, b, c] for a, b, c in zip(curve, unmeasured, gappy, strict=True)]
    signal = stop_signal(COSTS, rows, targets=["arousal", "dominance", "valence"])
    assert signal.fired
    assert signal.plateau[1] is None
    assert signal.gain[1] is None
    assert signal.plateau[0] is not None
    assert signal.plateau[2] is not None


def test_no_measured_target_never_fires() -> None:
    signal = stop_signal(COSTS, np.full((COSTS.size, 2), np.nan))
    assert not signal.fired
    assert "no target measured" in signal.reason


def test_bootstrap_lower_bound_at_chance_blocks_firing() -> None:
    curve = saturating(6)
    assert stop_signal(COSTS, curve).fired
    signal = stop_signal(COSTS, curve, dev_ccc_low=np.zeros(COSTS.size))
    assert not signal.fired
    assert "bootstrap lower bound" in signal.reason


def test_too_few_rounds_never_fire() -> None:
    signal = stop_signal([100, 200, 300], [0.5, 0.5, 0.5], min_rounds=4, patience=1)
    assert not signal.fired
    assert "only 3 of 4 rounds" in signal.reason


@pytest.mark.parametrize(
    ("costs", "ccc", "message"),
    [
        ([100, 200, 300], [0.1, 0.2], "one row per round"),
        ([100, 300, 200], [0.1, 0.2, 0.3], "strictly increasing"),
        ([100, 100, 200], [0.1, 0.2, 0.3], "strictly increasing"),
        ([0, 100, 200], [0.1, 0.2, 0.3], "positive"),
        ([100.5, 200, 300], [0.1, 0.2, 0.3], "whole numbers"),
        ([], [], "non-empty"),
        ([100, 200, 300], [0.1, 0.2, 1.3], r"\[-1, 1\]"),
    ],
)
def test_invalid_input_raises_value_error(
    costs: list[float], ccc: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        stop_signal(costs, ccc)


def test_invalid_parameters_raise_value_error() -> None:
    with pytest.raises(ValueError, match="patience"):
        stop_signal([100, 200, 300], [0.1, 0.2, 0.3], patience=0)
    with pytest.raises(ValueError, match="tolerance"):
        stop_signal([100, 200, 300], [0.1, 0.2, 0.3], tolerance=0)
    with pytest.raises(ValueError, match="target names"):
        stop_signal([100, 200, 300], [0.1, 0.2, 0.3], targets=["a", "b"])


def test_to_dict_is_json_serialisable() -> None:
    signal = stop_signal(COSTS, np.column_stack([saturating(7), saturating(8)]), targets=["a", "v"])
    assert isinstance(signal, StopSignal)
    decoded = json.loads(json.dumps(signal.to_dict()))
    assert decoded["fired"] is signal.fired
    assert decoded["at_cost"] == signal.at_cost
    assert set(decoded["plateau"]) == {"a", "v"}
    assert decoded["reason"] == signal.reason
    with pytest.raises(AttributeError):
        signal.fired = False  # type: ignore[misc]
