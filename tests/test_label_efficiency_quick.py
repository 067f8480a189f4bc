"""Smoke test of the label-efficiency benchmark (--quick): it runs and is sane, nothing more.

The headline numbers live in docs/benchmarks.md from full runs, never in a test.
"""

import csv
import json

import pytest

from bench.label_efficiency import DIAGNOSTICS, MACHINE_LABEL_TARGET_ERROR, STRATEGIES, main
from tests.conftest import shared_corpus

pytestmark = pytest.mark.shared_data


def test_quick_run_writes_curves_and_ccc_rises_with_labels(tmp_path):
    # The defaults: a new project's features and regressor (ComParE at 16 kHz, as
    # extracted, clipped ridge): 30-50 s on 2 cores, plus 16 s to extract EmoDB once
    # (the librosa set: 20-30 s). Sanity only, not results.
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
    # Fixed strategies pay exactly their raters per clip; dynamic ones at least one.
    assert arousal["strategies"]["random"]["ratings_per_clip"] == 3
    assert 1 <= arousal["strategies"]["cooperative_dynamic"]["ratings_per_clip"] <= 5
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


def test_diagnostics_run_on_request_and_the_oracle_meets_its_target(tmp_path):
    corpus = shared_corpus("emodb")
    options = ["--quick", "--strategies", ",".join(DIAGNOSTICS)]
    main(["--corpus", str(corpus), "--out", str(tmp_path), *options])
    strategies = json.loads((tmp_path / "summary.json").read_text())["emodb"]["arousal"][
        "strategies"
    ]
    assert set(strategies) == {"random", *DIAGNOSTICS}
    # A perfect confidence self-labels only while the machine labels' real error meets
    # the target (a 3-rater label's error, at most MACHINE_LABEL_TARGET_ERROR).
    assert 0 < strategies["cooperative_oracle"]["machine_label_mae"] <= MACHINE_LABEL_TARGET_ERROR
    assert strategies["random_coverage"]["machine_label_mae"] is None
    for name in DIAGNOSTICS:
        assert 1 <= strategies[name]["ratings_per_clip"] <= 5  # dynamic raters


def test_full_supervision_table_compares_feature_settings_on_the_same_splits():
    from bench.full_supervision import main as full_supervision

    corpus = shared_corpus("emodb")
    report = full_supervision(["--corpus", str(corpus), "--seeds", "1", "--folds", "3"])
    rows = [line for line in report.splitlines() if line.startswith("| librosa |")]
    assert [row.split(" | ")[1] for row in rows] == ["none", "speaker", "auto"]
    for row in rows:
        arousal = float(row.split(" | ")[3].split()[0])
        assert 0 < arousal <= 1  # a real model, above chance on acted arousal
    assert "(0%)" in rows[0]  # the first row is the baseline: never better than itself


def test_error_signals_reports_every_signal_for_both_targets():
    from bench.error_signals import main as error_signals

    report = error_signals(
        ["--corpus", str(shared_corpus("emodb")), "--seeds", "1", "--folds", "3", "--shares", "0.3"]
    )
    rows = [line.split(" | ") for line in report.splitlines() if line.startswith("| arousal")]
    signals = {row[1] for row in rows}
    assert {"confidence (components 16)", "confidence (components None)", "novelty"} <= signals
    # Every correlation is a number in [-1, 1] (NaN would mean a constant signal).
    for row in rows:
        if row[1] != "mean absolute error":
            assert -1 <= float(row[2].rstrip(" |")) <= 1
