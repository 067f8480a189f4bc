"""Full retraining time on CPU at 10k labelled clips, for each regressor and the confidence.

    python -m bench.bench_training [--n 10000] [--features 143] [--regressors linear,mlp]
        [--baselines ridge,mlp]

Synthetic features and two targets with a non-linear relation and heteroscedastic
noise; times `fit` of the ridge baseline and the torch MLP (CCC loss) (`--baselines`,
none with an empty list) and a whole `train_round` (regressor + K-fold error engines +
agreement estimator + calibration) with each of `--regressors`
(learner.regressors.make_regressor names), then the platform's worst case (a third
machine labels: `train_round` and the refit on all clips). Each row gives wall and CPU
seconds; the process's peak resident memory is printed at the end.
"""

import argparse
import os
import resource
import time
from dataclasses import replace

import numpy as np

from bench.machine import describe
from learner.regressors import LinearRegressor, MLPRegressor
from learner.training import LabelledSet, RoundConfig, speaker_split, train_round


def data(n: int, d: int, seed: int = 0) -> LabelledSet:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    noise = 0.05 + 0.2 * (np.abs(X[:, 0]) > 1)
    y = np.column_stack([np.tanh(X[:, 1] - 0.5 * X[:, 2] ** 2 + 0.5), np.tanh(0.5 * X[:, 3])])
    y = y + noise[:, None] * rng.normal(size=y.shape)
    return LabelledSet(
        clip_ids=np.arange(n),
        X=X,
        y=y,
        agreement=1 - noise,
        groups=np.array([f"s{i % 50}" for i in range(n)], dtype=object),
        weight=np.ones(n),
        human=np.ones(n, dtype=bool),
    )


def timed(label: str, action) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    action()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"| {label} | {wall:.1f} | {cpu:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--features", type=int, default=143)
    parser.add_argument("--regressors", type=lambda s: s.split(","), default=["linear", "mlp"])
    parser.add_argument(
        "--baselines", type=lambda s: [b for b in s.split(",") if b], default=["ridge", "mlp"]
    )
    args = parser.parse_args()
    labelled = data(args.n, args.features)
    dev = speaker_split(labelled.groups, dev_fraction=0.2, random_state=0)
    train, held = labelled.subset(~dev), labelled.subset(dev)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    print(describe(), f"load average {os.getloadavg()[0]:.2f} at start", sep="; ")
    print()
    print(f"{args.n} labelled clips x {args.features} features, 2 targets; BLAS threads {threads}")
    print()
    print("| step | wall s | CPU s |")
    print("|---|---|---|")
    if "ridge" in args.baselines:
        timed(
            "ridge baseline fit (penalty by K-fold CCC)",
            lambda: LinearRegressor().fit(train.X, train.y),
        )
    if "mlp" in args.baselines:
        timed(
            "torch MLP fit (CCC loss, early stopping)",
            lambda: MLPRegressor().fit(train.X, train.y),
        )
    # The platform's worst case: a third of the training clips carry machine labels (a
    # human-only candidate is fitted too), and the promoted model is refitted on all.
    machine = np.arange(len(train)) % 3 == 0
    mixed = replace(train, human=~machine, weight=np.where(machine, 0.5, 1.0))
    everything = LabelledSet(
        **{
            name: np.concatenate([getattr(mixed, name), getattr(held, name)])
            for name in LabelledSet.__dataclass_fields__
            if getattr(mixed, name) is not None  # label_error: None, labels taken as exact
        }
    )
    for name in args.regressors:
        config = RoundConfig(targets=("arousal", "valence"), extractor_key="bench", regressor=name)
        timed(
            f"whole train_round with {name} (model + 5-fold error engines + calibration)",
            lambda config=config: train_round(train, held, config),
        )
        timed(
            f"platform retraining with {name}, a third machine labels (train_round + refit)",
            lambda config=config: train_round(mixed, held, config).refit(everything, config),
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print()
    print(f"peak resident memory of the process: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
