"""The online queue's cost at high dimension: each ridge member on its own against one
shared Gram matrix, in the same run.

    python -m bench.bench_online_queue [--features 143 6373] [--labelled 400 2000]
        [--open 4000] [--repeats 5] [--rank 256]
        [--corpus ../shared/data/emodb --corpus ../shared/data/ravdess]

`learner.cooperative.online_queue` (a 5-member bootstrap ridge ensemble on the human
labels scores the open pool) with `solver="ridge"` (every member solved by
`learner.ridge.ridge`, the pool standardised: the code before the Gram solver existed)
and with `solver="auto"` (the platform's call: at more than 512 features and fewer
labelled clips than features, one Gram matrix of the labelled clips serves every member).
Synthetic features: 40 latent factors plus noise, each feature with its own scale and
offset; two targets, one in seven valence labels missing. Times are medians over
`--repeats` calls after one unmeasured call of each, on one BLAS thread.

Agreement of the fast path with the exact per-member one: Spearman correlation of the
uncertainty over the open pool, overlap of the top-`budget` sets and the largest
difference relative to the largest uncertainty. `--rank` adds the reduced-rank
alternative measured and not adopted (the standardised features projected on the
leading principal axes of labelled + open clips, `learner.ridge.principal_axes`, each
member's ridge solved there with the same penalty and bootstrap samples); `--rank 0`
leaves it out. `--corpus` repeats the agreement on real ComParE rows (`--extractor`,
extracted once and cached under var/ by bench.label_efficiency.protocol), labelled
clips drawn at random, the corpus gold as labels, every other clip open.
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy.stats import spearmanr
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from bench.machine import describe
from learner.cooperative import online_queue
from learner.online import top_uncertain
from learner.ridge import principal_axes, ridge
from learner.standardise import fit_standardiser, standardise

N_MEMBERS = 5
ALPHA = 10.0  # RidgeEnsemble's default penalty


def synthetic(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) features with a correlated structure and two targets, valence partly NaN."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 40))
    X = latent @ rng.normal(size=(40, d)) + rng.normal(size=(n, d))
    X = X * rng.uniform(0.1, 10.0, d) + rng.normal(scale=100.0, size=d)
    y = np.tanh(0.3 * latent[:, :2] + 0.1 * rng.normal(size=(n, 2)))
    y[::7, 1] = np.nan
    return X, y


def reduced_rank_uncertainty(
    X_labelled: np.ndarray, y: np.ndarray, X_open: np.ndarray, rank: int
) -> np.ndarray:
    """The alternative not adopted: the ensemble's members (same bootstrap draws as
    RidgeEnsemble with random_state 0) solved on `rank` principal axes of all clips."""
    mean, scale = fit_standardiser(X_labelled)
    Z_labelled = standardise(X_labelled, mean, scale)
    Z_open = standardise(X_open, mean, scale)
    axes = principal_axes(np.vstack([Z_labelled, Z_open]), rank)
    P_labelled, P_open = Z_labelled @ axes, Z_open @ axes
    rng = check_random_state(0)
    members = np.zeros((N_MEMBERS, len(X_open), y.shape[1]))
    for t in range(y.shape[1]):
        rows = np.flatnonzero(~np.isnan(y[:, t]))
        for m in range(N_MEMBERS):
            sample = rows[rng.randint(0, rows.size, rows.size)]
            coef, intercept = ridge(P_labelled[sample], y[sample, t], ALPHA)
            members[m, :, t] = P_open @ coef + intercept
    uncertainty: np.ndarray = members.std(axis=0).max(axis=1)
    return uncertainty


def agreement(exact: np.ndarray, other: np.ndarray, budget: int) -> str:
    rho = spearmanr(exact, other)[0]
    top = set(top_uncertain(exact, budget).tolist())
    overlap = len(top & set(top_uncertain(other, budget).tolist()))
    gap = np.abs(exact - other).max() / exact.max()
    return f"{rho:.6f} | {overlap}/{len(top)} | {gap:.1e}"


def median_times(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeats` calls, after one unmeasured call."""
    action()
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def real_features(paths: list[str], extractor: str) -> tuple[np.ndarray, np.ndarray]:
    from bench.label_efficiency.protocol import corpus_features
    from learner.simulate import load_corpus

    rows, gold = [], []
    for path in paths:
        corpus = load_corpus(path)
        rows.append(corpus_features(corpus, extractor))
        columns = [corpus.targets.index(t) for t in ("arousal", "valence")]
        gold.append(corpus.gold[:, columns])
    return np.vstack(rows).astype(np.float64), np.vstack(gold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, nargs="+", default=[143, 6373])
    parser.add_argument("--labelled", type=int, nargs="+", default=[400, 2000])
    parser.add_argument("--open", type=int, default=4000)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rank", type=int, default=256)
    parser.add_argument("--corpus", action="append", default=[])
    parser.add_argument("--extractor", default="compare16k")
    parser.add_argument("--real-labelled", type=int, default=400)
    args = parser.parse_args()
    threads = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    print(describe(), f"load average {os.getloadavg()[0]:.2f} at start", sep="; ")
    print(f"BLAS limited to 1 thread (threadpoolctl); environment {threads}")
    print()
    print(
        f"{args.open:,} open clips, 2 targets, budget {args.budget}; median of {args.repeats}"
        " calls. old = solver 'ridge' (each member on its own), new = 'auto'."
    )
    print()
    print(
        "| features | labelled | old wall s | old CPU s | new wall s | new CPU s | CPU ratio "
        "| Spearman new vs old | top-budget overlap | max rel. diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    ranked = []
    with threadpool_limits(limits=1):
        for d in args.features:
            for n in args.labelled:
                X, y = synthetic(n + args.open, d)
                X_labelled, y_labelled, X_open = X[:n], y[:n], X[n:]

                def call(solver: str, X_labelled=X_labelled, y_labelled=y_labelled, X_open=X_open):
                    return online_queue(
                        X_labelled, y_labelled, X_open, budget=args.budget, solver=solver
                    )

                old_wall, old_cpu = median_times(lambda call=call: call("ridge"), args.repeats)
                new_wall, new_cpu = median_times(lambda call=call: call("auto"), args.repeats)
                exact, fast = call("ridge").uncertainty, call("auto").uncertainty
                print(
                    f"| {d:,} | {n:,} | {old_wall:.3f} | {old_cpu:.3f} | {new_wall:.3f} | "
                    f"{new_cpu:.3f} | {old_cpu / new_cpu:.1f} | "
                    f"{agreement(exact, fast, args.budget)} |",
                    flush=True,
                )
                if args.rank and d > args.rank:
                    started = time.process_time()
                    reduced = reduced_rank_uncertainty(X_labelled, y_labelled, X_open, args.rank)
                    cpu = time.process_time() - started
                    ranked.append(f"| synthetic, {d:,} x {n:,} labelled | {cpu:.2f} | ")
                    ranked[-1] += f"{agreement(exact, reduced, args.budget)} |"
        if args.corpus:
            X, y = real_features(args.corpus, args.extractor)
            order = np.random.default_rng(0).permutation(len(X))
            n = min(args.real_labelled, len(X) // 2)
            labelled, rest = order[:n], order[n:]
            print()
            print(
                f"Real rows: {', '.join(args.corpus)} ({args.extractor}, {X.shape[1]:,} "
                f"features): {n} labelled at random (corpus gold), {len(rest)} open."
            )
            print()
            print(
                "| old CPU s | new CPU s | CPU ratio | Spearman new vs old | top-budget overlap "
                "| max rel. diff |"
            )
            print("|---|---|---|---|---|---|")

            def real(solver: str):
                return online_queue(
                    X[labelled], y[labelled], X[rest], budget=args.budget, solver=solver
                )

            _, old_cpu = median_times(lambda: real("ridge"), args.repeats)
            _, new_cpu = median_times(lambda: real("auto"), args.repeats)
            exact, fast = real("ridge").uncertainty, real("auto").uncertainty
            print(
                f"| {old_cpu:.3f} | {new_cpu:.3f} | {old_cpu / new_cpu:.1f} | "
                f"{agreement(exact, fast, args.budget)} |"
            )
            if args.rank and X.shape[1] > args.rank:
                started = time.process_time()
                reduced = reduced_rank_uncertainty(X[labelled], y[labelled], X[rest], args.rank)
                cpu = time.process_time() - started
                ranked.append(f"| real, {n} labelled | {cpu:.2f} | ")
                ranked[-1] += f"{agreement(exact, reduced, args.budget)} |"
    if ranked:
        print()
        print(f"Not adopted: rank {args.rank} (principal axes of labelled + open clips), against")
        print("the exact ensemble.")
        print()
        print("| data | CPU s | Spearman | top-budget overlap | max rel. diff |")
        print("|---|---|---|---|---|")
        print("\n".join(ranked))


if __name__ == "__main__":
    main()
