"""Full supervision by feature set: which features and model the label-efficiency runs use.

    python -m bench.full_supervision --corpus ../shared/data/emodb [--corpus DIR ...]
        [--extractors librosa,egemaps] [--normalisations none,speaker,auto]
        [--regressors linear,mlp] [--seeds 5] [--folds 5] [--labels weighted|mean]

On the label-efficiency benchmark's own speaker splits, every pool clip rated by 3
simulated (or replayed) raters; the median test CCC over splits per extractor, feature
normalisation and regressor, and how often each combination beats the first one on the
same split. "auto" is the platform's default: per split, whichever of none and speaker
scores better on the development speakers' labels (never on test gold);
"auto-clearly-Q" keeps none unless speaker normalisation is better beyond the noise of
the development set (paired bootstrap quantile Q above 0). Prints a
markdown table; each cell is the median with its 95 % interval (percentile bootstrap
over the splits, `median_interval`). A regressor may carry one parameter,
"linear_clipped[max_rank=128]" (`regressor_from_spec`).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from bench.label_efficiency.protocol import (
    CorpusRun,
    Labeller,
    Split,
    development_ratings,
    make_split,
    prepare_corpus,
    speaker_folds,
)
from bench.machine import describe
from learner.features import speaker_normalise
from learner.metrics import ccc
from learner.regressors import make_regressor, predict_matrix
from learner.training import RoundConfig, dev_score, paired_gain


def rated_split(run: CorpusRun, split: Split, raters: int, *, weighted: bool):
    """(pool labeller, development labeller) of one split: every pool and development
    clip rated by `raters` simulated (or replayed) raters."""
    dev = development_ratings(run.crowd, run.targets, split.dev, raters, weighted=weighted)
    pool = Labeller(run.crowd, run.targets, known=dev, weighted=weighted)
    for clip in split.pool:
        pool.ask(int(clip), raters)
    return pool, dev


def labelled_splits(run: CorpusRun, args) -> list[tuple]:
    """(seed, split, pool labeller, development labeller) of every split: the labels do
    not depend on the features or the regressor, so they are drawn once."""
    out = []
    for seed in range(args.seeds):
        folds = speaker_folds(run.corpus.speakers, args.folds, seed)
        for fold in range(args.folds):
            split = make_split(run.corpus.speakers, folds, fold, seed, 0.05)
            pool, dev = rated_split(run, split, args.raters, weighted=args.labels == "weighted")
            out.append((seed, split, pool, dev))
    return out


def corpus_scores(corpus_dir: Path, args) -> tuple[list[str], dict[tuple, np.ndarray]]:
    """{(extractor, normalisation, regressor): (n_splits, n_targets) test CCC}."""
    runs = {}
    for extractor in args.extractors:
        run = prepare_corpus(
            corpus_dir, argparse.Namespace(extractor=extractor, normalise="none", **vars(args))
        )
        features = {"none": run.X, "speaker": speaker_normalise(run.X, run.corpus.speakers)}
        splits = labelled_splits(run, args)
        for normalisation, regressor in itertools.product(args.normalisations, args.regressors):
            scores = []
            for seed, split, labeller, dev in splits:
                chosen = normalisation
                if normalisation == "auto":
                    chosen = choose_by_dev(features, labeller, dev, run, regressor, seed)
                elif normalisation.startswith("auto-clearly-"):
                    q = float(normalisation.removeprefix("auto-clearly-"))
                    chosen = choose_clearly(features, labeller, dev, run, regressor, seed, q)
                X = features[chosen]
                labelled = labeller.labelled_set(X, run.corpus.speakers)
                model = regressor_from_spec(regressor, seed)
                model.fit(labelled.X, labelled.y)
                pred = predict_matrix(model, X[split.test])
                gold = run.gold[split.test]
                scores.append([ccc(gold[:, t], pred[:, t]) for t in range(gold.shape[1])])
            runs[(extractor, normalisation, regressor)] = np.array(scores)
    return run.targets, runs


def regressor_from_spec(spec: str, seed: int):
    """`make_regressor` from "name" or "name[param=value]" (a number or None), e.g.
    "linear_clipped[max_rank=128]", so that one run can compare a regressor's settings."""
    name, _, rest = spec.partition("[")
    params = {}
    if rest:
        key, _, value = rest.rstrip("]").partition("=")
        params[key] = None if value == "None" else float(value) if "." in value else int(value)
    return make_regressor(name, random_state=seed, **params)


def median_interval(
    values: np.ndarray, *, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Median of `values` and its 95 % percentile-bootstrap interval (resampling the
    splits with replacement)."""
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, size=(n_boot, len(values)), replace=True), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(np.median(values)), float(low), float(high)


def choose_by_dev(features, labeller, dev, run, regressor: str, seed: int) -> str:
    """The platform's "auto" normalisation (learner.training.dev_score): the view whose
    regressor, fitted on the pool's labels, scores best on the development speakers'
    labels; never on test gold."""
    config = RoundConfig(
        targets=tuple(run.targets), extractor_key="bench", regressor=regressor, random_state=seed
    )
    speakers = run.corpus.speakers
    scores = {
        name: dev_score(labeller.labelled_set(X, speakers), dev.labelled_set(X, speakers), config)
        for name, X in features.items()
    }
    finite = {name: score for name, score in scores.items() if np.isfinite(score)}
    return max(finite, key=lambda name: finite[name]) if finite else "none"


def choose_clearly(features, labeller, dev, run, regressor: str, seed: int, q: float) -> str:
    """Speaker normalisation only when it beats none on the development speakers beyond
    their noise (learner.training.paired_gain at quantile `q` above 0)."""
    speakers = run.corpus.speakers
    predictions = {}
    for name, X in features.items():
        pool = labeller.labelled_set(X, speakers)
        held = dev.labelled_set(X, speakers)
        model = make_regressor(regressor, random_state=seed).fit(pool.X, pool.y)
        predictions[name] = (predict_matrix(model, held.X), held.y)
    (none_pred, y), (speaker_pred, _) = predictions["none"], predictions["speaker"]
    gain = paired_gain(y, none_pred, speaker_pred, quantile=q, seed=seed)
    return "speaker" if gain > 0 else "none"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--extractors", type=lambda s: s.split(","), default=["librosa"])
    parser.add_argument(
        "--normalisations", type=lambda s: s.split(","), default=["none", "speaker", "auto"]
    )
    parser.add_argument("--regressors", type=lambda s: s.split(","), default=["linear"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--labels", default="weighted", choices=["weighted", "mean"])
    args = parser.parse_args(argv)
    started = time.time()
    lines = []
    for corpus_dir in args.corpus:
        targets, runs = corpus_scores(corpus_dir, args)
        baseline = next(iter(runs.values()))
        lines += [
            f"### {corpus_dir.resolve().name}: full-supervision test CCC, median over "
            f"{len(baseline)} splits [95 % interval] (share of splits better than the first row)",
            "",
            "| extractor | normalisation | regressor | " + " | ".join(targets) + " |",
            "|---|---|---|" + "---|" * len(targets),
        ]
        for (extractor, normalisation, regressor), scores in runs.items():
            cells = [
                "{:.3f} [{:.3f}, {:.3f}]".format(*median_interval(scores[:, t]))
                + f" ({np.mean(scores[:, t] > baseline[:, t]):.0%})"
                for t in range(len(targets))
            ]
            lines.append(f"| {extractor} | {normalisation} | {regressor} | {' | '.join(cells)} |")
        lines.append("")
    report = f"{describe()}; {time.time() - started:.0f} s\n\n" + "\n".join(lines)
    print(report)
    return report


if __name__ == "__main__":
    main()
