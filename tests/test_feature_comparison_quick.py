"""Smoke test of bench.feature_comparison on a small synthetic corpus: the tables have one
row per combination and sane scores. The real figures live in docs/features.md."""

import argparse
import re

import numpy as np

from annotate.synthetic import corpus_write
from bench.feature_comparison import fused_features, main
from bench.label_efficiency.protocol import prepare_corpus


def table_rows(report: str, heading: str) -> list[list[str]]:
    block = report.split(heading, 1)[1].split("\n\n", 2)[1]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in block.splitlines()[2:]
        if line.startswith("|")
    ]


def test_tables_have_a_row_per_combination_and_the_ranking_follows_dev_ccc(tmp_path):
    corpus = corpus_write(tmp_path / "synthetic", n_clips=60)
    report = main(
        [
            "--corpus", str(corpus),
            "--extractors", "librosa,librosa+egemaps",
            "--regressors", "linear,pls",
            "--folds", "3",
        ]
    )  # fmt: skip
    rows = table_rows(report, "### synthetic:")
    combinations = {(e, n, r) for e, n, r, *_ in rows}
    assert (
        len(rows) == len(combinations) == 2 * 3 * 2
    )  # extractors x (none, speaker, auto) x regressors
    assert {n for _, n, _ in combinations} == {"none", "speaker", "auto"}
    for row in rows:
        test_arousal, test_valence, dev = (float(v) for v in row[3:6])
        assert all(-1 <= v <= 1 for v in (test_arousal, test_valence, dev))
    ranking = table_rows(report, "### Ranking")
    assert [int(row[0]) for row in ranking] == list(range(1, len(rows) + 1))
    means = [float(row[4]) for row in ranking]
    assert means == sorted(means, reverse=True)
    dev_by_key = {tuple(row[:3]): float(row[5]) for row in rows}
    assert all(dev_by_key[tuple(row[1:4])] == float(row[4]) for row in ranking)
    assert re.search(r"\d+ s\n", report)


def test_a_fusion_puts_the_cached_sets_side_by_side(tmp_path):
    corpus = corpus_write(tmp_path / "synthetic", n_clips=60)
    args = argparse.Namespace(extractor="librosa", normalise="none", raters=3)
    run = prepare_corpus(corpus, args)
    fused = fused_features(run, "librosa+egemaps")
    librosa, egemaps = fused_features(run, "librosa"), fused_features(run, "egemaps")
    np.testing.assert_array_equal(fused, np.hstack([librosa, egemaps]))
    assert fused.shape == (60, librosa.shape[1] + egemaps.shape[1])
