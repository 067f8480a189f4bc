"""What tells where the model errs? Rank correlation of per-clip signals with test error.

    python -m bench.error_signals --corpus ../shared/data/emodb [--corpus DIR ...]
        [--seeds 2] [--folds 5] [--shares 0.15,0.45] [--components 16,none]

Cooperative learning pays only if the model knows which clips it gets right (self-label
those) and which it gets wrong (ask people). On the label-efficiency benchmark's speaker
splits, with a share of the pool rated by 3 raters, this trains the platform's round
(learner.training.train_round) and measures, on the test speakers, Spearman's
correlation of each signal with the model's absolute error against gold:

- confidence: the calibrated expected error (once per `--components` setting of the
  error engines' inputs), with the round's wall time;
- ensemble spread: the online bootstrap ensemble's disagreement (learner.online);
- novelty: mean distance to the 5 nearest training clips;
- |prediction - mean|: how far the prediction lies from the training labels' mean;
- oracles the platform cannot see: the spread of all the clip's raters, and
  |gold - mean| (how extreme the truth is).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.label_efficiency.protocol import (
    Labeller,
    development_ratings,
    make_split,
    prepare_corpus,
    speaker_folds,
)
from bench.machine import describe
from learner.metrics import rank_correlation
from learner.online import RidgeEnsemble
from learner.training import RoundConfig, machine_label_bars, train_round

ORACLES = ("raters' spread (oracle)", "|gold - mean| (oracle)")


def _components(text: str) -> list[int | None]:
    return [None if part == "none" else int(part) for part in text.split(",")]


def signals_on_split(run, split, share: float, components, rng) -> dict[tuple, float]:
    """{(target, signal): Spearman correlation with test error} on one split, plus timings."""
    X, gold, crowd, targets, speakers = run.X, run.gold, run.crowd, run.targets, run.corpus.speakers
    dev = development_ratings(crowd, targets, split.dev, 3)
    labeller = Labeller(crowd, targets, known=dev)
    for clip in rng.choice(split.pool, round(share * split.pool.size), replace=False):
        labeller.ask(int(clip), 3)
    train, dev_set = labeller.labelled_set(X, speakers), dev.labelled_set(X, speakers)
    # A machine label must be as good as the 3-rater label it replaces.
    target_error, max_self_label_error = machine_label_bars(
        target_error=0.15, max_self_label_error=0.15, crowd_noise=labeller.noise(), panel=3
    )
    config = RoundConfig(
        targets=tuple(targets),
        extractor_key="bench",
        n_folds=3,
        n_error_engines=3,
        target_error=target_error,
        max_self_label_error=max_self_label_error,
    )
    test = split.test
    out: dict[tuple, float] = {}
    error = None
    for n in components:
        started = time.perf_counter()
        bundle = train_round(train, dev_set, replace(config, confidence_components=n))
        out[("", f"round time, s (components {n})")] = time.perf_counter() - started
        scores = bundle.predict(X[test])
        error = np.abs(scores.values - gold[test]) if error is None else error
        for t, target in enumerate(targets):
            out[(target, f"confidence (components {n})")] = rank_correlation(
                scores.expected_error[:, t], error[:, t]
            )
    spread = RidgeEnsemble(random_state=0).fit(train.X, train.y).score_pool(X[test]).spread
    distance = np.sqrt(((X[test][:, None, :] - train.X[None, :, :]) ** 2).sum(axis=-1))
    novelty = np.sort(distance, axis=1)[:, :5].mean(axis=1)
    for t, target in enumerate(targets):
        mean = train.y[:, t].mean()
        raters = np.array(
            [
                np.std([crowd.nth_rating(int(c), k)[target] for k in range(crowd.n_available(c))])
                for c in test
            ]
        )
        signals = {
            "ensemble spread": spread[:, t],
            "novelty": novelty,
            "|prediction - mean|": np.abs(scores.values[:, t] - mean),
            ORACLES[0]: raters,
            ORACLES[1]: np.abs(gold[test, t] - mean),
        }
        for name, values in signals.items():
            out[(target, name)] = rank_correlation(values, error[:, t])
        out[(target, "mean absolute error")] = float(error[:, t].mean())
    return out


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", required=True, type=Path)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--shares", default="0.15,0.45", help="rated share of the pool")
    parser.add_argument("--components", default="16,none", type=_components)
    args = parser.parse_args(argv)
    setup = argparse.Namespace(extractor="librosa", normalise="speaker", labels="weighted")
    shares = [float(s) for s in args.shares.split(",")]
    lines = [f"Machine: {describe()}", ""]
    for corpus_dir in args.corpus:
        run = prepare_corpus(corpus_dir, setup)
        speakers = run.corpus.speakers
        results: dict[tuple, list[float]] = {}
        for seed in range(args.seeds):
            folds = speaker_folds(speakers, args.folds, seed)
            for fold in range(args.folds):
                split = make_split(speakers, folds, fold, seed, 0.05)
                for share in shares:
                    rng = np.random.default_rng([seed, fold])
                    found = signals_on_split(run, split, share, args.components, rng)
                    for (target, name), value in found.items():
                        results.setdefault((target, name, share), []).append(value)
        header = " | ".join(f"{share:.0%} rated" for share in shares)
        lines += [
            f"### {corpus_dir.name}: Spearman correlation with the model's test error, "
            f"mean over {args.seeds * args.folds} splits",
            "",
            f"| target | signal | {header} |",
            "|---|---|" + "---|" * len(shares),
        ]
        for target, name in dict.fromkeys((t, n) for t, n, _ in results):
            cells = " | ".join(
                f"{np.nanmean(results[(target, name, share)]):.3f}" for share in shares
            )
            lines.append(f"| {target or '-'} | {name} | {cells} |")
        lines.append("")
    report = "\n".join(lines)
    print(report)
    return report


if __name__ == "__main__":
    main()
