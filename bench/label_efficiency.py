"""Label efficiency: human ratings each strategy needs to approach full supervision.

    python -m bench.label_efficiency --corpus ../shared/data/emodb [--corpus DIR ...] --out DIR
        [--quick] [--seeds 5] [--folds 5] [--extractor librosa|egemaps]
        [--regressor linear|mlp] [--raters 3]

The protocol of METHOD.md section 6, on any corpus in the shared format. Speaker folds
(test speakers, development speakers, the rest a pool with a small labelled seed set)
are repeated over seeds. A human query reveals one more rating of a clip (cost 1): from
ratings.csv where the corpus has one, else from a simulated crowd drawing on real
CREMA-D votes (learner.simulate). The gold of a clip is the mean of all its raters.
Each round every strategy trains on what it has, is evaluated on the test speakers, and
spends the same budget of ratings:

- random: random clips, a fixed number of raters each;
- uncertainty: the clips a bootstrap ensemble disagrees on most, fixed raters;
- self_training: random clips for humans, and the ensemble's most confident clips
  labelled by the model;
- cooperative: calibrated confidence (learner.confidence) labels the clips whose
  expected error meets a threshold chosen on development data; humans get the least
  confident, fixed raters;
- cooperative_dynamic: as cooperative, but a clip starts with one rater and gets more
  only while the ratings (and the model's prediction) disagree, up to a maximum.

It runs the learner code the platform runs (features, regressors, confidence, policy).
"""

import os

# One thread per process: comparable timings, and no oversubscription on small machines.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bench.machine import describe
from learner.agreement import clip_agreement
from learner.confidence import ConfidenceModel
from learner.cooperative import Action, choose_self_label_threshold, decide
from learner.features import get_extractor
from learner.metrics import ccc
from learner.online import RidgeEnsemble, top_uncertain
from learner.regressors import make_regressor
from learner.simulate import CremaVotes, CrowdSimulator, load_corpus

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
STRATEGIES = ("random", "uncertainty", "self_training", "cooperative", "cooperative_dynamic")
MACHINE_WEIGHT = 0.5
AGREEMENT_TARGET = 0.7
MAX_RATERS = 5


# ----------------------------------------------------------------------------- features
def corpus_features(corpus, extractor_name: str) -> np.ndarray:
    """Features of every clip, extracted once per corpus and extractor, cached under var/."""
    extractor = get_extractor(extractor_name)
    cache = ROOT / "var" / "cache" / "features" / f"{corpus.root.name}-{extractor.cache_key}.npy"
    if cache.is_file():
        X = np.load(cache)
        if len(X) == len(corpus.clip_ids):
            return X
    rows = []
    for path in corpus.paths:
        audio, sr = sf.read(corpus.root / path, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if sr != 16000:
            audio = soxr.resample(audio, sr, 16000).astype(np.float32)
        rows.append(extractor.extract(audio, 16000))
    X = np.vstack(rows)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, X)
    return X


# ----------------------------------------------------------------------------- a run
@dataclass
class Split:
    test: np.ndarray
    dev: np.ndarray
    pool: np.ndarray
    seed_set: np.ndarray


def speaker_folds(speakers: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    unique = np.random.default_rng(seed).permutation(np.unique(speakers.astype(str)))
    return [np.isin(speakers.astype(str), group) for group in np.array_split(unique, n_folds)]


def make_split(
    speakers: np.ndarray, folds: list[np.ndarray], fold: int, seed: int, seed_share: float
) -> Split:
    test = folds[fold]
    dev = folds[(fold + 1) % len(folds)]
    pool = np.flatnonzero(~test & ~dev)
    rng = np.random.default_rng(1000 + seed)
    n_seed = max(10, round(seed_share * pool.size))
    return Split(
        np.flatnonzero(test),
        np.flatnonzero(dev),
        pool,
        rng.choice(pool, size=n_seed, replace=False),
    )


class Labeller:
    """The labels one strategy holds, and the ratings it paid for."""

    def __init__(self, crowd: CrowdSimulator, targets: list[str]) -> None:
        self.crowd = crowd
        self.targets = targets
        self.ratings: dict[int, list[np.ndarray]] = {}
        self.machine: dict[int, np.ndarray] = {}
        self.cost = 0
        self.n_targets = len(targets)

    def ask(self, clip: int, n: int) -> None:
        have = len(self.ratings.setdefault(clip, []))
        for k in range(have, min(have + n, self.crowd.n_available(clip))):
            values = self.crowd.rating(clip, k)
            self.ratings[clip].append(np.array([values[t] for t in self.targets]))
            self.cost += 1
        self.machine.pop(clip, None)

    def ask_dynamic(self, clip: int, prediction: np.ndarray) -> None:
        """Start with one rater; add raters only while they (or the model) disagree."""
        self.ask(clip, 1)
        while True:
            rated = np.array(self.ratings[clip])
            if len(rated) >= min(MAX_RATERS, self.crowd.n_available(clip)):
                return
            # One rating is checked against the model, two or more against each other.
            panel = np.vstack([rated, prediction[None, :]]) if len(rated) == 1 else rated
            worst = min(
                clip_agreement(panel[:, t], scale_min=-1, scale_max=1)
                for t in range(self.n_targets)
            )
            if worst >= AGREEMENT_TARGET:
                return
            self.ask(clip, 1)

    def human_ids(self) -> np.ndarray:
        return np.array(sorted(self.ratings), dtype=int)

    def training_set(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = [*sorted(self.ratings), *sorted(self.machine)]
        y = [np.mean(self.ratings[i], axis=0) for i in sorted(self.ratings)]
        y += [self.machine[i] for i in sorted(self.machine)]
        w = [1.0] * len(self.ratings) + [MACHINE_WEIGHT] * len(self.machine)
        return X[ids], np.array(y), np.array(w)


def run_once(
    X,
    gold,
    crowd,
    targets,
    split: Split,
    strategy: str,
    *,
    raters: int,
    budget: int,
    max_cost: int,
    regressor: str,
    seed: int,
) -> list[dict]:
    """Rounds of one strategy on one split: test CCC per target against ratings spent."""
    rng = np.random.default_rng(seed)
    labeller = Labeller(crowd, targets)
    for clip in split.seed_set:
        labeller.ask(int(clip), raters)
    rounds = []
    while True:
        Xt, yt, wt = labeller.training_set(X)
        model = make_regressor(regressor, random_state=seed).fit(Xt, yt, sample_weight=wt)
        pred = np.asarray(model.predict(X[split.test])).reshape(len(split.test), -1)
        machine_ids = np.array(sorted(labeller.machine), dtype=int)
        machine_mae = (
            float(
                np.mean(
                    np.abs(np.array([labeller.machine[i] for i in machine_ids]) - gold[machine_ids])
                )
            )
            if machine_ids.size
            else None
        )
        rounds.append(
            {
                "cost": labeller.cost,
                "ccc": [ccc(gold[split.test, t], pred[:, t]) for t in range(gold.shape[1])],
                "machine_labels": int(machine_ids.size),
                "machine_mae": machine_mae,
            }
        )
        if labeller.cost >= max_cost or (
            len(rounds) > 1 and rounds[-1]["cost"] == rounds[-2]["cost"]
        ):
            return rounds  # budget spent, or the strategy asks nobody any more
        # Cooperative strategies re-decide their machine labels every round (the platform
        # revokes them when a newer model disagrees); the others keep what they took.
        revisable = strategy.startswith("cooperative")
        open_pool = np.array(
            [
                i
                for i in split.pool
                if i not in labeller.ratings and (revisable or i not in labeller.machine)
            ],
            dtype=int,
        )
        if open_pool.size == 0:
            return rounds
        n_clips = max(1, budget // raters)
        if strategy == "random":
            for clip in rng.choice(open_pool, size=min(n_clips, open_pool.size), replace=False):
                labeller.ask(int(clip), raters)
        elif strategy in ("uncertainty", "self_training"):
            human = labeller.human_ids()
            ensemble = RidgeEnsemble(random_state=seed).fit(
                X[human], np.array([np.mean(labeller.ratings[i], axis=0) for i in human])
            )
            scores = ensemble.score_pool(X[open_pool])
            uncertainty = scores.uncertainty()
            if strategy == "uncertainty":
                chosen = open_pool[top_uncertain(uncertainty, n_clips)]
            else:
                chosen = rng.choice(open_pool, size=min(n_clips, open_pool.size), replace=False)
                confident = np.argsort(uncertainty)[: max(1, open_pool.size // 10)]
                for i in confident:
                    if open_pool[i] not in chosen:
                        labeller.machine[int(open_pool[i])] = np.clip(scores.prediction[i], -1, 1)
            for clip in chosen:
                labeller.ask(int(clip), raters)
        else:
            cooperative_round(
                X,
                labeller,
                split,
                open_pool,
                strategy,
                raters=raters,
                budget=budget,
                regressor=regressor,
                seed=seed,
            )


def cooperative_round(
    X, labeller: Labeller, split: Split, open_pool, strategy, *, raters, budget, regressor, seed
) -> None:
    human = labeller.human_ids()
    y = np.array([np.mean(labeller.ratings[i], axis=0) for i in human])
    agreement = np.array(
        [
            min(
                clip_agreement(np.array(labeller.ratings[i])[:, t], scale_min=-1, scale_max=1)
                for t in range(y.shape[1])
            )
            if len(labeller.ratings[i]) > 1
            else np.nan
            for i in human
        ]
    )
    model = make_regressor(regressor, random_state=seed).fit(X[human], y)
    confidence = ConfidenceModel(
        regressor=make_regressor(regressor, random_state=seed),
        n_folds=3,
        n_error_engines=3,
        random_state=seed,
    ).fit(X[human], y, agreement)
    # Threshold on development speakers: their crowd labels are only used to calibrate.
    dev_y = np.array(
        [
            np.mean(
                [
                    [labeller.crowd.rating(i, k)[t] for t in labeller.targets]
                    for k in range(min(3, labeller.crowd.n_available(i)))
                ],
                axis=0,
            )
            for i in split.dev
        ]
    )
    dev_error = np.abs(np.asarray(model.predict(X[split.dev])).reshape(len(split.dev), -1) - dev_y)
    confidence.calibrate(X[split.dev], dev_error)
    dev_expected, _ = confidence.predict(X[split.dev])
    threshold = choose_self_label_threshold(
        expected_error=dev_expected.max(axis=1), real_error=dev_error.max(axis=1), target_error=0.15
    )
    expected, predicted_agreement = confidence.predict(X[open_pool])
    prediction = np.clip(np.asarray(model.predict(X[open_pool])).reshape(len(open_pool), -1), -1, 1)
    per_clip = 1.5 if strategy == "cooperative_dynamic" else raters
    decisions = decide(
        expected_error=expected,
        agreement=predicted_agreement,
        self_label_threshold=threshold,
        human_budget=max(1, int(budget / per_clip)),
        min_raters=raters,
        max_raters=MAX_RATERS,
    )
    spent = labeller.cost
    for i, decision in enumerate(decisions):
        clip = int(open_pool[i])
        if decision.action == Action.SELF_LABEL:
            labeller.machine[clip] = prediction[i]
        else:
            labeller.machine.pop(clip, None)  # no longer confident: revoked
    order = sorted(
        (i for i, d in enumerate(decisions) if d.action == Action.ASK_HUMANS),
        key=lambda i: -decisions[i].priority,
    )
    for i in order:
        if labeller.cost - spent >= budget:
            break
        if strategy == "cooperative_dynamic":
            labeller.ask_dynamic(int(open_pool[i]), prediction[i])
        else:
            labeller.ask(int(open_pool[i]), raters)


# ----------------------------------------------------------------------------- summary
def curve_on_grid(runs: list[list[dict]], t: int, grid: np.ndarray) -> np.ndarray:
    """(n_runs, len(grid)) CCC at each cost, holding each run's last value before it."""
    out = np.full((len(runs), grid.size), np.nan)
    for r, rounds in enumerate(runs):
        costs = np.array([x["cost"] for x in rounds])
        values = np.array([x["ccc"][t] for x in rounds])
        idx = np.searchsorted(costs, grid, side="right") - 1
        out[r] = np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)
    return out


def reach_and_stay(grid: np.ndarray, median: np.ndarray, level: float) -> int | None:
    below = np.flatnonzero(~(median >= level))
    if below.size == 0:
        return int(grid[0])
    if below[-1] + 1 >= grid.size:
        return None
    return int(grid[below[-1] + 1])


def summarise(results: dict, full: dict, targets, grid, rng) -> dict:
    summary = {}
    for t, target in enumerate(targets):
        full_ccc = float(np.median(full["fixed"][:, t]))
        entry = {
            "full_supervision_ccc": full_ccc,
            "full_supervision_all_raters_ccc": float(np.median(full["all"][:, t])),
            "full_supervision_ratings": int(full["cost"]),
            "strategies": {},
        }
        random_curves = curve_on_grid(results["random"], t, grid)
        random_budget = max(r[-1]["cost"] for r in results["random"])
        upto = grid <= random_budget
        for name, runs in results.items():
            curves = curve_on_grid(runs, t, grid)
            median = np.nanmedian(curves, axis=0)
            needed = reach_and_stay(grid, median, 0.95 * full_ccc)
            maes = [
                x["machine_mae"] for run in runs for x in run[-1:] if x["machine_mae"] is not None
            ]
            ratio = np.nanmean(curves[:, upto], axis=1) / np.nanmean(random_curves[:, upto], axis=1)
            boot = [np.nanmedian(rng.choice(ratio, ratio.size)) for _ in range(1000)]
            entry["strategies"][name] = {
                "ratings_to_95": needed,
                "final_ccc": float(np.nanmedian([run[-1]["ccc"][t] for run in runs])),
                "machine_label_mae": float(np.median(maes)) if maes else None,
                "auc_ratio_vs_random": float(np.nanmedian(ratio)),
                "auc_ratio_vs_random_ci95": [
                    float(np.percentile(boot, 2.5)),
                    float(np.percentile(boot, 97.5)),
                ],
                "median_curve": [None if np.isnan(v) else float(v) for v in median],
            }
        summary[target] = entry
    return summary


def plot(summary: dict, results: dict, grid, targets, out: Path, corpus_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for t, target in enumerate(targets):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, runs in results.items():
            curves = curve_on_grid(runs, t, grid)
            median = np.nanmedian(curves, axis=0)
            low, high = np.nanpercentile(curves, [25, 75], axis=0)
            ax.plot(grid, median, label=name)
            ax.fill_between(grid, low, high, alpha=0.15)
        full = summary[target]["full_supervision_ccc"]
        ax.axhline(full, color="black", lw=0.8, ls="--", label="full supervision")
        ax.axhline(0.95 * full, color="grey", lw=0.8, ls=":", label="95 % of it")
        ax.set_xlabel("human ratings spent")
        ax.set_ylabel(f"test CCC ({target})")
        ax.set_title(f"{corpus_name}: {target} (median, band = quartiles over folds x seeds)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"{corpus_name}-{target}.png", dpi=110)
        plt.close(fig)


def markdown(summary: dict, corpus_name: str) -> str:
    lines = []
    for target, entry in summary.items():
        full_cost = entry["full_supervision_ratings"]
        random_needed = entry["strategies"]["random"]["ratings_to_95"]
        lines += [
            f"### {corpus_name}: {target}",
            "",
            f"Full supervision ({full_cost} ratings): CCC {entry['full_supervision_ccc']:.3f}; "
            f"with all available raters: {entry['full_supervision_all_raters_ccc']:.3f}.",
            "",
            "| strategy | ratings to 95 % | saving vs full | ratio to random | final CCC "
            "| AUC vs random (95 % CI) | machine-label MAE |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, s in entry["strategies"].items():
            needed = s["ratings_to_95"]
            saving = f"{1 - needed / full_cost:.0%}" if needed is not None else "not reached"
            ratio = (
                f"{needed / random_needed:.2f}" if needed is not None and random_needed else "n/a"
            )
            mae = f"{s['machine_label_mae']:.3f}" if s["machine_label_mae"] is not None else "-"
            low, high = s["auc_ratio_vs_random_ci95"]
            lines.append(
                f"| {name} | {needed if needed is not None else 'not reached'} | {saving} "
                f"| {ratio} | {s['final_ccc']:.3f} | {s['auc_ratio_vs_random']:.3f} "
                f"({low:.3f}-{high:.3f}) | {mae} |"
            )
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def bench_corpus(corpus_dir: Path, args, out: Path, progress) -> tuple[dict, str]:
    corpus = load_corpus(corpus_dir)
    X = corpus_features(corpus, args.extractor)
    votes_csv = SHARED / "crema_d" / "votes_voice.csv"
    votes = CremaVotes.load(votes_csv) if votes_csv.is_file() and not corpus.ratings else None
    targets = [t for t in ("arousal", "valence") if t in corpus.targets] or list(corpus.targets)
    crowd = CrowdSimulator(corpus, votes=votes, n_raters=9, random_state=0)
    gold = np.array(
        [
            np.mean(
                [[crowd.rating(i, k)[t] for t in targets] for k in range(crowd.n_available(i))],
                axis=0,
            )
            for i in range(len(corpus.clip_ids))
        ]
    )
    results = {name: [] for name in STRATEGIES}
    full = {"fixed": [], "all": [], "cost": 0}
    rows = []
    for seed in range(args.seeds):
        folds = speaker_folds(corpus.speakers, args.folds, seed)
        for fold in range(args.folds):
            split = make_split(corpus.speakers, folds, fold, seed, seed_share=0.05)
            full_cost = args.raters * split.pool.size
            budget = max(args.raters, round(args.round_share * full_cost))
            fixed = Labeller(crowd, targets)
            for clip in split.pool:
                fixed.ask(int(clip), args.raters)
            Xf, yf, _ = fixed.training_set(X)
            everything = make_regressor(args.regressor, random_state=seed).fit(Xf, yf)
            pred = np.asarray(everything.predict(X[split.test])).reshape(len(split.test), -1)
            full["fixed"].append(
                [ccc(gold[split.test, t], pred[:, t]) for t in range(len(targets))]
            )
            allmodel = make_regressor(args.regressor, random_state=seed).fit(
                X[split.pool], gold[split.pool]
            )
            pred = np.asarray(allmodel.predict(X[split.test])).reshape(len(split.test), -1)
            full["all"].append([ccc(gold[split.test, t], pred[:, t]) for t in range(len(targets))])
            full["cost"] = max(full["cost"], full_cost)
            for name in STRATEGIES:
                rounds = run_once(
                    X,
                    gold,
                    crowd,
                    targets,
                    split,
                    name,
                    raters=args.raters,
                    budget=budget,
                    max_cost=round(args.max_share * full_cost),
                    regressor=args.regressor,
                    seed=seed,
                )
                results[name].append(rounds)
                for i, r in enumerate(rounds):
                    rows.append(
                        {
                            "corpus": corpus.root.name,
                            "seed": seed,
                            "fold": fold,
                            "strategy": name,
                            "round": i,
                            "ratings": r["cost"],
                            "machine_labels": r["machine_labels"],
                            "machine_label_mae": r["machine_mae"],
                            **{f"ccc_{t}": r["ccc"][j] for j, t in enumerate(targets)},
                        }
                    )
                progress()
    full = {"fixed": np.array(full["fixed"]), "all": np.array(full["all"]), "cost": full["cost"]}
    top = max(r[-1]["cost"] for runs in results.values() for r in runs)
    start = min(r[0]["cost"] for runs in results.values() for r in runs)
    grid = np.linspace(start, top, 60).round().astype(int)
    summary = summarise(results, full, targets, grid, np.random.default_rng(0))
    plot(summary, results, grid, targets, out, corpus.root.name)
    with (out / f"rounds-{corpus.root.name}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    crowd_note = (
        "replayed from ratings.csv"
        if corpus.ratings
        else "simulated: raters answer with real CREMA-D vote distributions"
        if votes
        else "simulated: gold plus rater noise"
    )
    for entry in summary.values():
        entry["crowd"] = crowd_note
        entry["grid"] = grid.tolist()
    return summary, markdown(summary, corpus.root.name)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="one corpus, 3 folds x 1 seed")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--raters", type=int, default=3, help="fixed raters per clip")
    parser.add_argument(
        "--round-share",
        type=float,
        default=0.04,
        help="ratings per round, as a share of full supervision",
    )
    parser.add_argument(
        "--max-share",
        type=float,
        default=0.6,
        help="stop a strategy at this share of the full-supervision cost",
    )
    parser.add_argument("--extractor", default="librosa", choices=["librosa", "egemaps"])
    parser.add_argument("--regressor", default="linear", choices=["linear", "mlp"])
    args = parser.parse_args(argv)
    if args.quick:
        args.corpus, args.seeds, args.folds, args.max_share = args.corpus[:1], 1, 3, 0.4
    args.out.mkdir(parents=True, exist_ok=True)
    total = len(args.corpus) * args.seeds * args.folds * len(STRATEGIES)
    from tqdm import tqdm

    started = time.time()
    summary, tables = {}, []
    with tqdm(total=total, desc="strategy runs", file=sys.stderr) as bar:
        for corpus_dir in args.corpus:
            name = corpus_dir.resolve().name
            summary[name], table = bench_corpus(corpus_dir, args, args.out, bar.update)
            tables.append(table)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    command = "python -m bench.label_efficiency " + " ".join(sys.argv[1:] if argv is None else argv)
    (args.out / "report.md").write_text(
        f"# Label efficiency\n\n`{command}`\n\n{describe()}; {time.time() - started:.0f} s; "
        f"extractor {args.extractor}, regressor {args.regressor}, {args.seeds} seeds x "
        f"{args.folds} speaker folds, {args.raters} raters per clip for fixed strategies.\n\n"
        + "\n".join(tables)
    )
    return summary


if __name__ == "__main__":
    main()
