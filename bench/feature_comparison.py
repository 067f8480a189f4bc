"""Feature sets x regressors x normalisation, chosen on the development speakers.

    python -m bench.feature_comparison --corpus ../shared/data/emodb [--corpus DIR ...]
        [--extractors librosa,egemaps,compare,librosa+egemaps] [--normalisations none,speaker]
        [--regressors linear,pls,svr,mlp,mlp_per_target] [--seeds 1] [--folds 5]

The label-efficiency benchmark's speaker splits and labels, as in bench.full_supervision:
every pool clip rated by 3 simulated (or replayed) raters, the development speakers' clips
by 3 more. A fusion `a+b` is the column-concatenation of the cached feature sets `a` and
`b` (bench.label_efficiency.protocol.corpus_features). For every combination the model
is fitted once per split on the pool's labels and scored twice: on the development
speakers' labels (what a project has, and what the default is chosen by) and on the test
speakers' gold (reported only, never used to choose). With both none and speaker in
`--normalisations`, "auto" is added: per split the normalisation that the platform's
`feature_normalisation = auto` picks from the pool's own labels (choose_on_dev), scored
like the others.

Prints per corpus a markdown table (median test CCC per target, mean development CCC over
splits and targets, fitting seconds per split), then the combinations ranked by their
development CCC averaged over the corpora.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.full_supervision import labelled_splits, regressor_from_spec
from bench.label_efficiency.protocol import (
    CorpusRun,
    Labeller,
    corpus_features,
    prepare_corpus,
)
from bench.machine import describe
from learner.features import speaker_normalise
from learner.metrics import ccc
from learner.regressors import predict_matrix
from learner.training import RoundConfig, choose_on_dev

Key = tuple[str, str, str]  # (extractor, normalisation, regressor)


@dataclass
class Scores:
    """Per split and target: CCC on the test speakers' gold and on the development
    speakers' labels; seconds spent fitting."""

    test: list[list[float]] = field(default_factory=list)
    dev: list[list[float]] = field(default_factory=list)
    seconds: float = 0.0

    def dev_mean(self) -> float:
        return float(np.nanmean(self.dev))


def fused_features(run: CorpusRun, spec: str) -> np.ndarray:
    """The cached feature sets named in `spec` ("librosa+egemaps"), side by side."""
    return np.hstack([corpus_features(run.corpus, name) for name in spec.split("+")])


def per_target_ccc(truth: np.ndarray, pred: np.ndarray) -> list[float]:
    """CCC of every target over the rows whose truth is known (NaN below 3 rows)."""
    scores = []
    for t in range(truth.shape[1]):
        known = ~np.isnan(truth[:, t])
        scores.append(ccc(truth[known, t], pred[known, t]) if known.sum() >= 3 else np.nan)
    return scores


def corpus_scores(corpus_dir: Path, args) -> tuple[list[str], dict[Key, Scores]]:
    """{(extractor, normalisation, regressor): Scores} on one corpus."""
    run = prepare_corpus(
        corpus_dir, argparse.Namespace(extractor="librosa", normalise="none", **vars(args))
    )
    speakers = run.corpus.speakers
    splits = labelled_splits(run, args)
    results: dict[Key, Scores] = {}
    for extractor in args.extractors:
        raw = fused_features(run, extractor)
        views = {"none": raw, "speaker": speaker_normalise(raw, speakers)}
        for normalisation, regressor in itertools.product(args.normalisations, args.regressors):
            X = views[normalisation]
            scores = results.setdefault((extractor, normalisation, regressor), Scores())
            for seed, split, pool, dev in splits:
                train = pool.labelled_set(X, speakers)
                started = time.process_time()
                model = regressor_from_spec(regressor, seed)
                model.fit(train.X, train.y, sample_weight=train.weight)
                scores.seconds += (time.process_time() - started) / len(splits)
                test_pred = predict_matrix(model, X[split.test])
                scores.test.append(per_target_ccc(run.gold[split.test], test_pred))
                held = dev.labelled_set(X, speakers)
                scores.dev.append(per_target_ccc(held.y, predict_matrix(model, held.X)))
        if {"none", "speaker"} <= set(args.normalisations):
            for regressor in args.regressors:
                results[(extractor, "auto", regressor)] = auto_scores(
                    results[(extractor, "none", regressor)],
                    results[(extractor, "speaker", regressor)],
                    [
                        platform_choice(views, pool, speakers, run, regressor, seed)
                        for seed, _, pool, _ in splits
                    ],
                )
    return run.targets, results


def platform_choice(
    views: dict[str, np.ndarray],
    pool: Labeller,
    speakers,
    run: CorpusRun,
    regressor: str,
    seed: int,
) -> tuple[str, float]:
    """The platform's `feature_normalisation = auto` on the pool's own labels
    (learner.training.choose_on_dev: fitted without some of the pool's speakers, scored on
    their labels), so that neither the benchmark's development speakers nor test gold
    choose; with the CPU seconds it took."""
    started = time.process_time()
    config = RoundConfig(
        targets=tuple(run.targets), extractor_key="bench", regressor=regressor, random_state=seed
    )
    chosen, _ = choose_on_dev(
        {name: pool.labelled_set(X, speakers) for name, X in views.items()},
        config,
        dev_seed=seed,
    )
    return chosen, time.process_time() - started


def auto_scores(none: Scores, speaker: Scores, choices: list[tuple[str, float]]) -> Scores:
    """Per split, the scores of the normalisation the platform chose; the choice's fits
    count in the seconds."""
    auto = Scores(seconds=none.seconds / 2 + speaker.seconds / 2)
    for k, (chosen, seconds) in enumerate(choices):
        picked = speaker if chosen == "speaker" else none
        auto.test.append(picked.test[k])
        auto.dev.append(picked.dev[k])
        auto.seconds += seconds / len(choices)
    return auto


def corpus_table(name: str, targets: list[str], results: dict[Key, Scores]) -> list[str]:
    n_splits = len(next(iter(results.values())).test)
    lines = [
        f"### {name}: median test CCC over {n_splits} splits; development CCC (mean over "
        "splits and targets) chooses",
        "",
        "| extractor | normalisation | regressor | "
        + " | ".join(f"test {t}" for t in targets)
        + " | dev CCC | fit s |",
        "|---|---|---|" + "---|" * (len(targets) + 2),
    ]
    for (extractor, normalisation, regressor), scores in results.items():
        test = np.array(scores.test)
        cells = [f"{np.nanmedian(test[:, t]):.3f}" for t in range(len(targets))]
        lines.append(
            f"| {extractor} | {normalisation} | {regressor} | {' | '.join(cells)} | "
            f"{scores.dev_mean():.3f} | {scores.seconds:.1f} |"
        )
    return [*lines, ""]


def ranking_table(names: list[str], per_corpus: list[dict[Key, Scores]]) -> list[str]:
    """Combinations measured on every corpus, by mean development CCC over corpora."""
    keys = [key for key in per_corpus[0] if all(key in results for results in per_corpus)]
    dev = {key: [results[key].dev_mean() for results in per_corpus] for key in keys}
    test = {key: [float(np.nanmean(results[key].test)) for results in per_corpus] for key in keys}
    ranked = sorted(keys, key=lambda key: -np.mean(dev[key]))
    lines = [
        "### Ranking by development CCC, mean over corpora (test CCC: mean over splits and "
        "targets, for reference only)",
        "",
        "| rank | extractor | normalisation | regressor | mean dev CCC | "
        + " | ".join(f"{name} dev / test" for name in names)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(names),
    ]
    for rank, key in enumerate(ranked, 1):
        cells = [f"{d:.3f} / {t:.3f}" for d, t in zip(dev[key], test[key], strict=True)]
        lines.append(
            f"| {rank} | {' | '.join(key)} | {np.mean(dev[key]):.3f} | {' | '.join(cells)} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument(
        "--extractors", type=lambda s: s.split(","), default=["librosa", "egemaps", "compare"]
    )
    parser.add_argument(
        "--normalisations", type=lambda s: s.split(","), default=["none", "speaker"]
    )
    parser.add_argument(
        "--regressors", type=lambda s: s.split(","), default=["linear", "pls", "svr", "mlp"]
    )
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--labels", default="weighted", choices=["weighted", "mean"])
    args = parser.parse_args(argv)
    unknown = set(args.normalisations) - {"none", "speaker"}
    if unknown:
        parser.error(f"unknown normalisations {sorted(unknown)}; auto is added by itself")
    torch.set_num_threads(1)
    started = time.time()
    print(describe(), flush=True)
    names, lines, per_corpus = [], [], []
    for corpus_dir in args.corpus:
        targets, results = corpus_scores(corpus_dir, args)
        names.append(corpus_dir.resolve().name)
        per_corpus.append(results)
        lines += corpus_table(names[-1], targets, results)
        print("\n".join(lines[-len(results) - 5 :]), flush=True)
    lines += ranking_table(names, per_corpus)
    report = f"{describe()}; {time.time() - started:.0f} s\n\n" + "\n".join(lines)
    print("\n".join(ranking_table(names, per_corpus)))
    print(f"{time.time() - started:.0f} s")
    return report


if __name__ == "__main__":
    main()
