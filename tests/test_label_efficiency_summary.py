"""The label-efficiency summary: the 95 % point (where the median curve gets there and
stays) and where the platform's stop signal fires on the development learning curve."""

import numpy as np

from bench.label_efficiency import cost_grid, summarise
from bench.label_efficiency.report import markdown
from learner.stopping import stop_signal

COSTS = list(range(10, 301, 10))


def run(costs, cccs, dev=None):
    return [
        {"cost": c, "ccc": [v], "machine_mae": None, "confidence_rank": None, "human_clips": c // 3}
        | ({} if dev is None else {"dev_ccc": [d]})
        for c, v, d in zip(costs, cccs, dev or [None] * len(costs), strict=True)
    ]


def summary_of(results, full_ccc=(1.0, 1.0, 1.0)):
    full = {
        "fixed": np.array([[v] for v in full_ccc]),
        "all": np.array([[1.0]] * len(full_ccc)),
        "cost": 300,
    }
    return summarise(results, full, ["arousal"], cost_grid(results), np.random.default_rng(0))


def ratings_to_95(results):
    return {
        name: s["ratings_to_95"] for name, s in summary_of(results)["arousal"]["strategies"].items()
    }


def saturating(seed, asymptote=0.8):
    rng = np.random.default_rng(seed)
    costs = np.array(COSTS)
    return list(asymptote * (1 - np.exp(-costs / 20)) + rng.normal(0, 0.003, costs.size))


def test_a_dip_between_rounds_counts_and_other_budgets_do_not():
    # Every run reaches 0.95 at 40 ratings, dips at 47 and is back for good at 52.
    dipping = [run([10, 40, 47, 52, 90], [0.5, 0.96, 0.90, 0.97, 0.97])] * 3
    short = ratings_to_95({"random": dipping, "other": [run([10, 60], [0.5, 0.6])] * 3})
    long = ratings_to_95({"random": dipping, "other": [run([10, 250], [0.5, 0.6])] * 3})
    assert short["random"] == long["random"] == 52
    assert short["other"] is None


def test_stop_signal_fires_on_a_saturating_dev_curve_and_reports_the_test_ccc_there():
    devs = [saturating(seed) for seed in range(3)]
    tests = [[0.2 + 0.002 * i + 0.01 * s for i in range(len(COSTS))] for s in range(3)]
    runs = [run(COSTS, test, dev) for test, dev in zip(tests, devs, strict=True)]
    full_ccc = (0.8, 0.9, 1.0)  # aligned with the runs: one row of full per split
    stop = summary_of({"random": runs}, full_ccc)["arousal"]["strategies"]["random"]["stop_signal"]

    signals = [stop_signal(COSTS, dev, targets=["arousal"]) for dev in devs]
    assert all(signal.fired for signal in signals)
    assert stop["fired_splits"] == stop["splits"] == 3
    assert stop["fired_share"] == 1.0
    assert stop["not_fired_reasons"] == []
    at = [COSTS.index(signal.at_cost) for signal in signals]
    assert stop["ratings"] == np.median([signal.at_cost for signal in signals])
    assert stop["ratings_share_of_full"] == np.median([signal.at_cost / 300 for signal in signals])
    shares = sorted(tests[s][i] / full_ccc[s] for s, i in enumerate(at))
    assert stop["test_ccc_share_of_full"] == shares[1]
    assert stop["test_ccc_share_of_full_range"] == [shares[0], shares[-1]]
    assert "| random | 3/3 |" in markdown(summary_of({"random": runs}, full_ccc), "toy")


def test_stop_signal_never_reads_the_test_curve():
    dev = saturating(0)
    flat_test = summary_of({"random": [run(COSTS, [0.5] * len(COSTS), dev)] * 3})
    rising_test = summary_of({"random": [run(COSTS, list(np.linspace(0.1, 0.9, 30)), dev)] * 3})
    stops = [s["arousal"]["strategies"]["random"]["stop_signal"] for s in (flat_test, rising_test)]
    assert stops[0]["ratings"] == stops[1]["ratings"] is not None
    assert stops[0]["test_ccc_share_of_full"] == 0.5
    assert stops[1]["test_ccc_share_of_full"] > 0.5


def test_rising_dev_curve_does_not_fire_and_the_table_says_so():
    rising = list(0.1 + 0.1 * np.log2(np.array(COSTS) / 10))
    summary = summary_of({"random": [run(COSTS, [0.5] * len(COSTS), rising)] * 3})
    stop = summary["arousal"]["strategies"]["random"]["stop_signal"]
    assert stop["fired_splits"] == 0
    assert stop["fired_share"] == 0.0
    assert stop["ratings_share_of_full"] is None
    assert stop["test_ccc_share_of_full_range"] == [None, None]
    assert len(stop["not_fired_reasons"]) == 3
    assert all("still rising" in reason for reason in stop["not_fired_reasons"])
    assert "| random | 0/3 | - | - | - |" in markdown(summary, "toy")


def test_a_last_round_that_spent_nothing_more_adds_no_point_to_the_curve():
    # The strategy asked nobody in its last round: the same cost twice is one point.
    dev = saturating(0)
    repeated = run([*COSTS, COSTS[-1]], [0.5] * (len(COSTS) + 1), [*dev, dev[-1]])
    stop = summary_of({"random": [repeated] * 3})["arousal"]["strategies"]["random"]["stop_signal"]
    assert stop["ratings"] == stop_signal(COSTS, dev).at_cost


def test_rounds_without_development_ccc_get_no_stop_signal():
    summary = summary_of({"random": [run([10, 40, 90], [0.5, 0.9, 0.97])] * 3})
    assert summary["arousal"]["strategies"]["random"]["stop_signal"] is None
    assert "Stop signal" not in markdown(summary, "toy")


def test_full_supervision_reports_its_median_with_an_interval_over_splits():
    curves = {"random": [run(COSTS, saturating(seed)) for seed in range(5)]}
    summary = summary_of(curves, full_ccc=(0.6, 0.7, 0.75, 0.8, 0.9))
    entry = summary["arousal"]
    low, high = entry["full_supervision_ccc_ci95"]
    assert 0.6 <= low <= entry["full_supervision_ccc"] == 0.75 <= high <= 0.9
    assert f"CCC 0.750 (95 % CI {low:.3f}-{high:.3f});" in markdown(summary, "toy")


def test_the_report_says_how_often_the_queue_was_ordered_by_uncertainty():
    rising = [run(COSTS, [0.5 + 0.001 * i for i in range(len(COSTS))]) for _ in range(3)]
    cooperative = [
        [r | {"queue_order": "top" if i < 3 else "random"} for i, r in enumerate(runs)]
        for runs in rising
    ]
    summary = summary_of({"random": rising, "cooperative_dynamic": cooperative})
    strategies = summary["arousal"]["strategies"]
    assert strategies["random"]["uncertainty_order_share"] is None
    assert strategies["cooperative_dynamic"]["uncertainty_order_share"] == 3 / len(COSTS)
    assert "least confident clips first" in markdown(summary, "toy")
    assert f"cooperative_dynamic {3 / len(COSTS):.0%}." in markdown(summary, "toy")
