"""The label-efficiency summary's 95 % point: where the median curve gets there and stays."""

import numpy as np

from bench.label_efficiency import cost_grid, summarise


def run(costs, cccs):
    return [
        {"cost": c, "ccc": [v], "machine_mae": None, "confidence_rank": None, "human_clips": c // 3}
        for c, v in zip(costs, cccs, strict=True)
    ]


def ratings_to_95(results):
    full = {"fixed": np.array([[1.0]] * 3), "all": np.array([[1.0]] * 3), "cost": 300}
    summary = summarise(results, full, ["arousal"], cost_grid(results), np.random.default_rng(0))
    return {name: s["ratings_to_95"] for name, s in summary["arousal"]["strategies"].items()}


def test_a_dip_between_rounds_counts_and_other_budgets_do_not():
    # Every run reaches 0.95 at 40 ratings, dips at 47 and is back for good at 52.
    dipping = [run([10, 40, 47, 52, 90], [0.5, 0.96, 0.90, 0.97, 0.97])] * 3
    short = ratings_to_95({"random": dipping, "other": [run([10, 60], [0.5, 0.6])] * 3})
    long = ratings_to_95({"random": dipping, "other": [run([10, 250], [0.5, 0.6])] * 3})
    assert short["random"] == long["random"] == 52
    assert short["other"] is None
