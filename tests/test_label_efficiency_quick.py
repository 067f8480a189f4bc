"""Smoke test of the label-efficiency benchmark (--quick): it runs and is sane, nothing more.

The headline numbers live in docs/benchmarks.md from full runs, never in a test.
"""

import csv
import json

import pytest

from bench.label_efficiency import STRATEGIES, main
from tests.conftest import shared_corpus

pytestmark = pytest.mark.shared_data


def test_quick_run_writes_curves_and_ccc_rises_with_labels(tmp_path):
    corpus = shared_corpus("emodb")
    main(["--corpus", str(corpus), "--out", str(tmp_path), "--quick"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    arousal = summary["emodb"]["arousal"]
    assert set(arousal["strategies"]) == set(STRATEGIES)
    assert arousal["full_supervision_ratings"] > 0
    assert 0 < arousal["full_supervision_ccc"] <= 1
    for strategy in arousal["strategies"].values():
        assert {"ratings_to_95", "final_ccc", "machine_label_mae", "auc_ratio_vs_random"} <= set(
            strategy
        )
    assert (tmp_path / "emodb-arousal.png").stat().st_size > 10_000
    assert "| random |" in (tmp_path / "report.md").read_text()
    with (tmp_path / "rounds-emodb.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["strategy"] for row in rows} == set(STRATEGIES)
    # More labels help: a model on the whole rated pool beats one on the seed set alone.
    seed_set = [float(row["ccc_arousal"]) for row in rows if row["round"] == "0"]
    assert arousal["full_supervision_ccc"] > sum(seed_set) / len(seed_set)
    costs = [int(row["ratings"]) for row in rows if row["strategy"] == "random"]
    assert max(costs) > min(costs)
