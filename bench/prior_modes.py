"""How a prior enters a project's model, measured: cold, residual, stacked, pooled.

    python -m bench.prior_modes --corpus ../shared/data/emodb --corpus ../shared/data/ravdess
        [--labels 10,20,50,100,200] [--repeats 10] [--normalisations corpus,speaker]

Two settings per corpus under test:
- "same corpus": the prior learns from a third of its speakers, the project labels
  clips of another third and is tested on the last third (recordings of one kind);
- "other corpora": the prior learns from every other corpus given, all its clips.
Labels are every clip's 9-rater label (the label-efficiency benchmark's gold,
bench.label_efficiency.protocol.prepare_corpus), for the prior and the project alike.
Per number of labelled clips, each repeat draws them (and, same corpus, the speakers'
partition). Ways the prior enters (ridge throughout): `cold` (none), `prior only` (its
predictions, no label used), `residual` and `stacked` (learner.prior), `pooled` (one
ridge on the prior's clips, weight `--pool-weight` each, and the project's, weight 1),
and `platform: cold or R`: what a project does with warm candidate R
(learner.training.choose_on_dev between cold and R on development speakers of the
labelled clips; the prior alone while there are too few labels to train). The table
gives mean test CCC per target and, per way, the mean difference to cold with a 95 %
bootstrap interval over repeats.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.label_efficiency.protocol import prepare_corpus
from bench.machine import describe
from learner.features import corpus_normalise, speaker_normalise
from learner.metrics import ccc
from learner.prior import frozen_prior, with_prior
from learner.regressors import make_regressor, predict_matrix
from learner.training import LabelledSet, RoundConfig, choose_on_dev


@dataclass
class Corpus:
    name: str
    views: dict[str, np.ndarray]  # normalisation -> features
    y: np.ndarray  # 9-rater labels (n, targets)
    speakers: np.ndarray


def load(corpus_dir: Path, targets: list[str]) -> Corpus:
    run = prepare_corpus(corpus_dir, argparse.Namespace(extractor="librosa", normalise="none"))
    columns = [run.targets.index(t) for t in targets]
    speakers = run.corpus.speakers
    return Corpus(
        name=corpus_dir.resolve().name,
        views={"corpus": corpus_normalise(run.X), "speaker": speaker_normalise(run.X, speakers)},
        y=run.gold[:, columns],
        speakers=speakers,
    )


def _mean_ccc(y: np.ndarray, predicted: np.ndarray) -> list[float]:
    return [ccc(y[:, t], predicted[:, t]) for t in range(y.shape[1])]


def scores_by_way(
    prior_X,
    prior_y,
    X,
    y,
    groups,
    X_test,
    y_test,
    *,
    pool_weights: list[float],
    platform_rules: list[str],
    seed: int,
) -> dict[str, list[float]]:
    """Test CCC per target of every way, for one draw of labelled clips."""
    targets = tuple(f"t{t}" for t in range(y.shape[1]))
    prior_model = make_regressor("linear").fit(prior_X, prior_y)
    prior = frozen_prior(prior_model, targets, targets, X=prior_X, y=prior_y)
    fitted = {
        "cold": make_regressor("linear", random_state=seed).fit(X, y),
        "prior only": prior,
        "residual": with_prior(make_regressor("linear", random_state=seed), prior, "residual").fit(
            X, y
        ),
        "stacked": with_prior(make_regressor("linear", random_state=seed), prior, "stacked").fit(
            X, y
        ),
    }
    for weight in pool_weights:
        fitted[f"pooled {weight:g}"] = make_regressor("linear", random_state=seed).fit(
            np.vstack([prior_X, X]),
            np.vstack([prior_y, y]),
            sample_weight=np.r_[np.full(len(prior_X), weight), np.ones(len(X))],
        )
    cold = RoundConfig(targets=targets, extractor_key="bench", random_state=seed)
    data = LabelledSet.of_human_labels(X, y, groups)
    for rule in platform_rules:
        rule, _, strict = rule.partition(" strict")
        candidates = {}
        for part in rule.split("+"):
            mode, _, weight = part.partition(" ")
            candidates[part] = replace(
                cold, prior=prior, prior_mode=mode, prior_weight=float(weight or 0.3)
            )
        chosen, scores = choose_on_dev(
            {"cold": data, **dict.fromkeys(candidates, data)},
            cold,
            dev_seed=seed,
            configs=candidates,
            challengers=tuple(candidates) if strict else (),
            quantile=float(strict or 0.2),
        )
        too_few = not any(np.isfinite(s) for s in scores.values())
        if too_few:
            model = fitted["prior only"]
        elif chosen == "cold":
            model = fitted["cold"]
        else:
            config = candidates[chosen]
            model = with_prior(
                make_regressor("linear", random_state=seed),
                prior,
                config.prior_mode,
                weight=config.prior_weight,
            ).fit(X, y)
        shown = " or ".join(candidates) + (f" (clearly, q {strict})" if strict else "")
        fitted[f"platform: cold or {shown}"] = model
    return {way: _mean_ccc(y_test, predict_matrix(model, X_test)) for way, model in fitted.items()}


def _interval(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(2000)]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def run_setting(
    under_test: Corpus, others: list[Corpus], normalisation: str, args
) -> dict[int, dict[str, np.ndarray]]:
    """{labels: {way: (repeats, targets) test CCC}} for one corpus, prior source and
    normalisation."""
    results: dict[int, dict[str, list]] = {n: {} for n in args.labels}
    X_all, y_all = under_test.views[normalisation], under_test.y
    for repeat in range(args.repeats):
        rng = np.random.default_rng(repeat)
        speakers = rng.permutation(np.unique(under_test.speakers))
        third = len(speakers) // 3
        test = np.isin(under_test.speakers, speakers[:third])
        if others:
            prior_X = np.vstack([c.views[normalisation] for c in others])
            prior_y = np.vstack([c.y for c in others])
            pool = np.flatnonzero(~test)
        else:
            prior_rows = np.isin(under_test.speakers, speakers[third : 2 * third])
            prior_X, prior_y = X_all[prior_rows], y_all[prior_rows]
            pool = np.flatnonzero(~test & ~prior_rows)
        for n in args.labels:
            chosen = rng.choice(pool, min(n, pool.size), replace=False)
            scores = scores_by_way(
                prior_X,
                prior_y,
                X_all[chosen],
                y_all[chosen],
                under_test.speakers[chosen],
                X_all[test],
                y_all[test],
                pool_weights=args.pool_weights,
                platform_rules=args.platform_rules,
                seed=repeat,
            )
            for way, value in scores.items():
                results[n].setdefault(way, []).append(value)
    return {n: {way: np.array(v) for way, v in ways.items()} for n, ways in results.items()}


def markdown(title: str, results: dict[int, dict[str, np.ndarray]], targets: list[str]) -> str:
    rng = np.random.default_rng(0)
    lines = [
        f"#### {title}",
        "",
        "| labelled clips | way | " + " | ".join(f"{t}: CCC (vs cold)" for t in targets) + " |",
        "|---|---|" + "---|" * len(targets),
    ]
    for n, ways in results.items():
        for way, scores in ways.items():
            cells = []
            for t in range(len(targets)):
                cell = f"{scores[:, t].mean():.3f}"
                if way != "cold":
                    diff = scores[:, t] - ways["cold"][:, t]
                    low, high = _interval(diff, rng)
                    cell += f" ({diff.mean():+.3f} [{low:+.3f}, {high:+.3f}])"
                cells.append(cell)
            lines.append(f"| {n} | {way} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument(
        "--labels", type=lambda s: [int(v) for v in s.split(",")], default=[10, 20, 50, 100, 200]
    )
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--normalisations", type=lambda s: s.split(","), default=["corpus", "speaker"]
    )
    parser.add_argument(
        "--pool-weights", type=lambda s: [float(v) for v in s.split(",")], default=[0.1, 0.3, 1.0]
    )
    parser.add_argument(
        "--platform-rules",
        type=lambda s: s.split(","),
        default=["residual", "pooled 1", "residual+pooled 1"],
        help="warm candidates (+ between several) a project's choice on development "
        "speakers may pick over cold; ' strict Q': only when better beyond the noise "
        "(learner.training.paired_dev_gain at quantile Q above 0)",
    )
    parser.add_argument("--targets", type=lambda s: s.split(","), default=["arousal", "valence"])
    args = parser.parse_args(argv)
    started = time.time()
    corpora = [load(path, args.targets) for path in args.corpus]
    sections = []
    for under_test in corpora:
        others = [c for c in corpora if c is not under_test]
        settings = [("same corpus", [])] + ([("other corpora", others)] if others else [])
        for setting, source in settings:
            for normalisation in args.normalisations:
                results = run_setting(under_test, source, normalisation, args)
                origin = (
                    "its own other speakers" if not source else "+".join(c.name for c in source)
                )
                title = (
                    f"{under_test.name}, prior from {origin} ({setting}), "
                    f"{normalisation} normalisation, {args.repeats} repeats"
                )
                sections.append(markdown(title, results, args.targets))
    report = f"{describe()}; {time.time() - started:.0f} s\n\n" + "\n".join(sections)
    print(report)
    return report


if __name__ == "__main__":
    main()
