"""Cross-corpus transfer: a ridge on all of corpus A's gold, tested on all of B, no label of B.

    python -m bench.cross_corpus --corpus ../shared/data/emodb --corpus ../shared/data/ravdess
        [--corpus DIR ...] [--extractor librosa] [--regressor linear] [--folds 5] [--seeds 1]
        [--out FILE]

For every ordered pair of corpora (A -> B) sharing no clip (a natural view of a corpus
is not tested on its source): test CCC per target of a regressor fitted on every clip of
A (its gold, clips.csv), predicting every clip of B, with the features standardised
within each corpus or within each speaker (the scales a prior is learnt on,
learner.prior), a 95 % interval from resampling B's speakers; beside it, as the
reference, B's own full supervision on speaker folds (train on the other folds' gold,
median test CCC over folds and seeds), on the same scale. Prints the markdown table (and
writes it to `--out`). Features come from the label-efficiency cache
(bench.label_efficiency.protocol.corpus_features).
"""

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

# One thread per process, as the other benchmarks (set before numpy loads its BLAS).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

from bench.label_efficiency.protocol import PriorCorpus, prior_corpus, speaker_folds
from bench.machine import describe
from learner.corpus import read_clips_csv
from learner.metrics import ccc
from learner.prior import PRIOR_NORMALISATIONS
from learner.regressors import make_regressor, predict_matrix

TARGETS = ["arousal", "valence"]
N_BOOT = 500


@dataclass(frozen=True)
class Source:
    """A corpus: its features on each scale, gold and speakers (PriorCorpus) and the
    audio hashes of its clips (to tell a corpus from its own views)."""

    data: PriorCorpus
    hashes: frozenset[str]


def load(corpus_dir: Path, extractor: str) -> Source:
    hashes = frozenset(row.get("sha256", "") for row in read_clips_csv(corpus_dir)) - {""}
    return Source(prior_corpus(corpus_dir, TARGETS, extractor), hashes)


def per_target_ccc(gold: np.ndarray, pred: np.ndarray) -> list[float]:
    out = []
    for t in range(gold.shape[1]):
        rows = np.isfinite(gold[:, t])
        out.append(ccc(gold[rows, t], pred[rows, t]) if rows.sum() >= 3 else float("nan"))
    return out


def zero_shot(a: Source, b: Source, scale: str, regressor: str) -> dict:
    """A's regressor on all of B: CCC per target, and a 95 % interval over B's speakers
    resampled with replacement (clips of a speaker move together)."""
    model = make_regressor(regressor, random_state=0).fit(a.data.views[scale], a.data.gold)
    pred = predict_matrix(model, b.data.views[scale])
    gold, speakers = b.data.gold, b.data.speakers
    names = np.unique(speakers)
    rows_of = {name: np.flatnonzero(speakers == name) for name in names}
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(N_BOOT):
        rows = np.concatenate([rows_of[name] for name in rng.choice(names, names.size)])
        draws.append(per_target_ccc(gold[rows], pred[rows]))
    low, high = np.nanpercentile(np.array(draws), [2.5, 97.5], axis=0)
    return {
        "ccc": per_target_ccc(gold, pred),
        "ci95": [[float(lo), float(hi)] for lo, hi in zip(low, high, strict=True)],
    }


def within(b: Source, scale: str, regressor: str, folds: int, seeds: int) -> list[float]:
    """B's own full supervision on speaker folds: median test CCC per target."""
    X, gold, speakers = b.data.views[scale], b.data.gold, b.data.speakers
    scores = []
    for seed in range(seeds):
        for test in speaker_folds(speakers, folds, seed):
            model = make_regressor(regressor, random_state=seed).fit(X[~test], gold[~test])
            scores.append(per_target_ccc(gold[test], predict_matrix(model, X[test])))
    return [float(v) for v in np.nanmedian(np.array(scores), axis=0)]


def cross_corpus(sources: list[Source], args) -> list[dict]:
    """One row per ordered pair (A -> B) of corpora sharing no clip and per target."""
    reference = {
        (b.data.name, scale): within(b, scale, args.regressor, args.folds, args.seeds)
        for b in sources
        for scale in PRIOR_NORMALISATIONS
    }
    rows = []
    for a in sources:
        for b in sources:
            if a is b or a.hashes & b.hashes:
                continue
            shots = {
                scale: zero_shot(a, b, scale, args.regressor) for scale in PRIOR_NORMALISATIONS
            }
            for t, target in enumerate(TARGETS):
                rows.append(
                    {
                        "train": a.data.name,
                        "test": b.data.name,
                        "target": target,
                        **{
                            f"zero_shot_{scale}": shots[scale]["ccc"][t]
                            for scale in PRIOR_NORMALISATIONS
                        },
                        **{
                            f"zero_shot_{scale}_ci95": shots[scale]["ci95"][t]
                            for scale in PRIOR_NORMALISATIONS
                        },
                        **{
                            f"within_{scale}": reference[(b.data.name, scale)][t]
                            for scale in PRIOR_NORMALISATIONS
                        },
                    }
                )
    return rows


def markdown(rows: list[dict]) -> str:
    head = " | ".join(f"zero-shot, {s} norm. (95 % CI)" for s in PRIOR_NORMALISATIONS)
    within_head = " | ".join(f"B within, {s} norm." for s in PRIOR_NORMALISATIONS)
    lines = [
        f"| A (train) | B (test) | target | {head} | {within_head} |",
        "|---|---|---|" + "---|" * (2 * len(PRIOR_NORMALISATIONS)),
    ]
    for row in rows:
        shots = " | ".join(
            f"{row[f'zero_shot_{s}']:.3f} ({row[f'zero_shot_{s}_ci95'][0]:.2f} to "
            f"{row[f'zero_shot_{s}_ci95'][1]:.2f})"
            for s in PRIOR_NORMALISATIONS
        )
        own = " | ".join(f"{row[f'within_{s}']:.3f}" for s in PRIOR_NORMALISATIONS)
        lines.append(f"| {row['train']} | {row['test']} | {row['target']} | {shots} | {own} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cross_corpus", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--extractor", default="librosa", choices=["librosa", "egemaps"])
    parser.add_argument("--regressor", default="linear")
    parser.add_argument("--folds", type=int, default=5, help="speaker folds of the reference")
    parser.add_argument("--seeds", type=int, default=1, help="repetitions of the reference")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args(argv)
    if len(args.corpus) < 2:
        parser.error("cross-corpus transfer needs at least two --corpus")
    started = time.time()
    rows = cross_corpus([load(path, args.extractor) for path in args.corpus], args)
    report = (
        f"{describe()}; {time.time() - started:.0f} s; extractor {args.extractor}, "
        f"regressor {args.regressor}, reference on {args.seeds} x {args.folds} speaker "
        f"folds.\n\n{markdown(rows)}\n"
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    print(report)
    return report


if __name__ == "__main__":
    main()
