"""Label efficiency: human ratings each strategy needs to approach full supervision.

    python -m bench.label_efficiency --corpus ../shared/data/emodb [--corpus DIR ...] --out DIR
        [--quick] [--seeds 5] [--folds 5] [--extractor librosa|egemaps] [--normalise speaker|none]
        [--regressor linear|mlp] [--raters 3] [--strategies a,b] [--selection top|proportional]
        [--jobs N] [--platform]

The protocol of METHOD.md section 6, on any corpus in the shared format. Speaker folds
(test speakers, development speakers, the rest a pool with a small labelled seed set)
are repeated over seeds. A human query reveals one more rating of a clip (cost 1): from
ratings.csv where the corpus has one, else from a simulated crowd drawing on real
CREMA-D votes (learner.simulate). A clip's label weights each rating by its rater's
learnt noise, as the platform's does (`--labels mean`: plain means); its gold is that
label from all its raters. The development speakers are rated by `--raters` people and
given to every strategy free (the cooperative ones use them to calibrate and choose;
every strategy learns its raters' noise from them too). Each round every strategy
trains on what it has, is evaluated on the test speakers, and spends the same budget of
ratings:

- random: random clips, a fixed number of raters each;
- uncertainty: the clips a bootstrap ensemble disagrees on most, fixed raters;
- self_training: random clips for humans, and the ensemble's most confident clips
  labelled by the model;
- cooperative: the platform's round (learner.training.train_round): calibrated
  confidence labels the clips whose expected error is no worse than a human label's;
  humans get the least confident (learner.cooperative.decide), fixed raters;
- cooperative_dynamic: as cooperative, but a clip starts with one rater and gets more
  while its label is less certain than a fixed panel's (learner.raters, as the platform);
- random_dynamic: random clips with dynamic raters, no machine labels: what the rater
  rule alone does, without the cooperative choice of clips;
- diagnostics, only on request, never results: cooperative_oracle is
  cooperative_dynamic with a perfect confidence (the model's real error against gold),
  an upper bound on what better confidence could buy; cooperative_coverage sends
  people the unconfident clips farthest from the rated ones (greedy sampling) instead
  of the least confident; random_coverage does that without machine labels.

`--platform` instead drives one split through the real platform (bench.platform_mode).
"""

import os

# One thread per process: comparable timings, and no oversubscription on small machines.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import hashlib
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bench.machine import describe
from learner.agreement import clip_agreement
from learner.cooperative import Action, choose_self_label_threshold, decide
from learner.features import get_extractor, speaker_normalise
from learner.metrics import ccc, rank_correlation
from learner.online import RidgeEnsemble, farthest_first, top_uncertain
from learner.raters import (
    clip_needs_another_rater,
    human_label_error,
    rater_noise,
    rater_noise_each,
    weighted_label,
)
from learner.regressors import make_regressor
from learner.simulate import CremaVotes, CrowdSimulator, load_corpus
from learner.training import LabelledSet, RoundConfig, TrainedBundle, train_round

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
STRATEGIES = (
    "random",
    "uncertainty",
    "self_training",
    "cooperative",
    "cooperative_dynamic",
    "random_dynamic",
)
# Run only when asked for.
DIAGNOSTICS = ("cooperative_oracle", "cooperative_coverage", "random_coverage")
MACHINE_WEIGHT = 0.5
MAX_RATERS = 5
MACHINE_LABEL_TARGET_ERROR = 0.15
CROWD_SIZE = 40
RATERS_PER_CLIP = 9
AGREEMENT_TARGET = 0.7  # the platform's default, for the cold start before noise is known


# ----------------------------------------------------------------------------- features
def corpus_features(corpus, extractor_name: str) -> np.ndarray:
    """Features of every clip, extracted once per corpus and extractor, cached under var/."""
    extractor = get_extractor(extractor_name)
    listing = hashlib.sha256((corpus.root / "clips.csv").read_bytes()).hexdigest()[:12]
    name = f"{corpus.root.name}-{listing}-{extractor.cache_key}.npy"
    cache = ROOT / "var" / "cache" / "features" / name
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
    """The labels one strategy holds, and the ratings it paid for.

    `known` holds ratings seen elsewhere (the development speakers'): they help tell
    reliable raters from unreliable ones. With `weighted`, a clip's label weights each
    rating by its rater's own noise (learner.raters.weighted_label), as the platform
    does; otherwise it is the plain mean.
    """

    def __init__(
        self,
        crowd: CrowdSimulator,
        targets: list[str],
        *,
        known: "Labeller | None" = None,
        weighted: bool = True,
    ) -> None:
        self.crowd = crowd
        self.targets = targets
        self.known = known
        self.weighted = weighted
        self.ratings: dict[int, list[np.ndarray]] = {}
        self.who: dict[int, list[str]] = {}
        self.machine: dict[int, np.ndarray] = {}
        self.cost = 0
        self._noise_each: tuple[tuple, dict[str, np.ndarray]] = ((), {})

    def ask(self, clip: int, n: int) -> None:
        have = len(self.ratings.setdefault(clip, []))
        for k in range(have, min(have + n, self.crowd.n_available(clip))):
            values = self.crowd.nth_rating(clip, k)
            self.ratings[clip].append(np.array([values[t] for t in self.targets]))
            self.who.setdefault(clip, []).append(self.crowd.nth_rater(clip, k))
            self.cost += 1
        self.machine.pop(clip, None)
        if not self.ratings[clip]:
            del self.ratings[clip]  # nobody can rate it

    def noise(self) -> np.ndarray:
        """The crowd's rating noise per target, from the ratings paid for so far."""
        return rater_noise(list(self.ratings.values()))

    def rater_noise_each(self) -> dict[str, np.ndarray]:
        """Each rater's own noise per target (learner.raters.rater_noise_each), from
        every rating this labeller and `known` have seen; empty while unknown, and with
        plain-mean labels. Computed once per state of the ratings."""
        sources = [self] if self.known is None else [self, self.known]
        state = tuple(source.cost for source in sources)
        if self._noise_each[0] != state:
            self._noise_each = (state, self._estimate_noise_each(sources))
        return self._noise_each[1]

    def _estimate_noise_each(self, sources: list["Labeller"]) -> dict[str, np.ndarray]:
        if not self.weighted:
            return {}
        rows = [
            (clip, name, values)
            for source in sources
            for clip, answers in source.ratings.items()
            for name, values in zip(source.who[clip], answers, strict=True)
        ]
        pooled = rater_noise([a for source in sources for a in source.ratings.values()])
        if not rows or not np.all(np.isfinite(pooled)):
            return {}
        names = sorted({name for _, name, _ in rows})
        index = {name: i for i, name in enumerate(names)}
        each = rater_noise_each(
            [clip for clip, _, _ in rows],
            [index[name] for _, name, _ in rows],
            np.array([values for _, _, values in rows]),
            pooled,
        )
        return dict(zip(names, each, strict=True))

    def label(self, clip: int, each: dict[str, np.ndarray]) -> np.ndarray:
        answers = np.array(self.ratings[clip])
        if not each:
            return answers.mean(axis=0)
        return weighted_label(answers, np.array([each[name] for name in self.who[clip]]))[0]

    def ask_dynamic(
        self, clip: int, noise: np.ndarray, panel: int, each: dict[str, np.ndarray]
    ) -> None:
        """Start with one rater; add raters as the platform does (clip_settle calls the
        same learner.raters.clip_needs_another_rater): while the clip's label is less
        certain than a `panel`-rater mean usually is, up to the maximum. Agreeing or
        reliable raters stop early, contested clips and unreliable raters get more."""
        most = min(MAX_RATERS, self.crowd.n_available(clip))
        unknown = np.full(len(self.targets), np.nan)
        self.ask(clip, 1)
        while clip in self.ratings:
            answers = np.array(self.ratings[clip])
            if not clip_needs_another_rater(
                answers,
                noise,
                panel=panel,
                max_raters=most,
                agreement=panel_agreement(answers),
                agreement_target=AGREEMENT_TARGET,
                rater_noise=np.array([each.get(name, unknown) for name in self.who[clip]]),
            ):
                break
            self.ask(clip, 1)

    def human_ids(self) -> np.ndarray:
        return np.array(sorted(self.ratings), dtype=int)

    def labelled_set(self, X: np.ndarray, groups: np.ndarray) -> LabelledSet:
        """Human labels and machine labels, as the platform trains."""
        human, machine = sorted(self.ratings), sorted(self.machine)
        each = self.rater_noise_each()
        ids = np.array([*human, *machine], dtype=int)
        y = [self.label(i, each) for i in human] + [self.machine[i] for i in machine]
        agreement = [
            panel_agreement(np.array(self.ratings[i])) if len(self.ratings[i]) > 1 else np.nan
            for i in human
        ] + [np.nan] * len(machine)
        is_human = np.arange(ids.size) < len(human)
        return LabelledSet(
            clip_ids=ids,
            X=X[ids],
            y=np.array(y).reshape(ids.size, len(self.targets)),
            agreement=np.array(agreement),
            groups=groups[ids],
            weight=np.where(is_human, 1.0, MACHINE_WEIGHT),
            human=is_human,
        )


def panel_agreement(panel: np.ndarray) -> float:
    """The worst agreement over targets of a (raters, targets) panel."""
    return min(
        clip_agreement(panel[:, t], scale_min=-1, scale_max=1) for t in range(panel.shape[1])
    )


def development_ratings(
    crowd, targets, dev: np.ndarray, raters: int, *, weighted: bool = True
) -> Labeller:
    """The development speakers, each clip rated by `raters` people (the protocol's dev split)."""
    labeller = Labeller(crowd, targets, weighted=weighted)
    for clip in dev:
        labeller.ask(int(clip), raters)
    return labeller


def run_once(
    X,
    gold,
    crowd,
    targets,
    split: Split,
    strategy: str,
    *,
    groups: np.ndarray,
    dev: Labeller,
    raters: int,
    budget: int,
    max_cost: int,
    regressor: str,
    seed: int,
    selection: str = "top",
    panel: int | None = None,
    layout: np.ndarray | None = None,
) -> list[dict]:
    """Rounds of one strategy on one split: test CCC per target against ratings spent."""
    rng = np.random.default_rng(seed)
    panel = panel or raters  # dynamic raters: as certain as a mean of `panel` raters
    labeller = Labeller(crowd, targets, known=dev, weighted=dev.weighted)
    dev_set = dev.labelled_set(X, groups)
    for clip in split.seed_set:
        labeller.ask(int(clip), raters)
    cooperative = strategy.startswith("cooperative")
    config = RoundConfig(
        targets=tuple(targets),
        extractor_key="bench",
        regressor=regressor,
        n_folds=3,
        n_error_engines=3,
        target_error=MACHINE_LABEL_TARGET_ERROR,
        max_self_label_error=MACHINE_LABEL_TARGET_ERROR,
        random_state=seed,
    )
    rounds = []
    while True:
        if cooperative:
            # The platform's round: regressor, confidence, threshold on development data.
            # A machine label must be as good as the human label it replaces: its target
            # error is the mean absolute error of a `raters`-rater mean of this crowd.
            human_error = human_label_error(labeller.noise(), raters)
            target = min(MACHINE_LABEL_TARGET_ERROR, human_error or MACHINE_LABEL_TARGET_ERROR)
            config = replace(config, target_error=target, max_self_label_error=target)
            bundle = train_round(labeller.labelled_set(X, groups), dev_set, config)
            test_scores = bundle.predict(X[split.test])
            pred = test_scores.values
            # Does the calibrated confidence know where the model errs? Rank correlation of
            # expected and real absolute error on the test speakers, per target.
            test_error = np.abs(pred - gold[split.test])
            confidence_rank = [
                rank_correlation(test_scores.expected_error[:, t], test_error[:, t])
                for t in range(gold.shape[1])
            ]
        else:
            data = labeller.labelled_set(X, groups)
            model = make_regressor(regressor, random_state=seed)
            model.fit(data.X, data.y, sample_weight=data.weight)
            pred = np.asarray(model.predict(X[split.test])).reshape(len(split.test), -1)
            confidence_rank = None
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
                "confidence_rank": confidence_rank,
                "machine_labels": int(machine_ids.size),
                "machine_mae": machine_mae,
                "human_clips": len(labeller.ratings),
            }
        )
        if labeller.cost >= max_cost or (
            len(rounds) > 1 and rounds[-1]["cost"] == rounds[-2]["cost"]
        ):
            return rounds  # budget spent, or the strategy asks nobody any more
        # Cooperative strategies re-decide their machine labels every round (the platform
        # revokes them when a newer model disagrees); the others keep what they took.
        open_pool = np.array(
            [
                i
                for i in split.pool
                if i not in labeller.ratings and (cooperative or i not in labeller.machine)
            ],
            dtype=int,
        )
        if open_pool.size == 0:
            return rounds
        n_clips = max(1, budget // raters)
        if cooperative:
            cooperative_act(
                bundle,
                X,
                labeller,
                open_pool,
                strategy,
                raters=raters,
                panel=panel,
                budget=budget,
                selection=selection,
                random_state=int(rng.integers(2**31)),
                oracle=(gold[open_pool], config.target_error)
                if strategy == "cooperative_oracle"
                else None,
                coverage=(layout, labeller.human_ids())
                if strategy == "cooperative_coverage"
                else None,
            )
        elif strategy == "random_coverage":
            spent, noise, each = labeller.cost, labeller.noise(), labeller.rater_noise_each()
            for i in farthest_first(layout[open_pool], layout[labeller.human_ids()], budget):
                if labeller.cost - spent >= budget:
                    break
                labeller.ask_dynamic(int(open_pool[i]), noise, panel, each)
        elif strategy == "random":
            for clip in rng.choice(open_pool, size=min(n_clips, open_pool.size), replace=False):
                labeller.ask(int(clip), raters)
        elif strategy == "random_dynamic":
            spent, noise, each = labeller.cost, labeller.noise(), labeller.rater_noise_each()
            for clip in rng.permutation(open_pool):
                if labeller.cost - spent >= budget:
                    break
                labeller.ask_dynamic(int(clip), noise, panel, each)
        else:  # uncertainty, self_training: the platform's online ensemble
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


def principal_components(X: np.ndarray, n_components: int = 16) -> np.ndarray:
    """Every clip on the features' leading principal components (unsupervised), where
    the coverage diagnostics measure distances."""
    Z = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)
    return Z @ Vt[:n_components].T


def cooperative_act(
    bundle: TrainedBundle,
    X,
    labeller: Labeller,
    open_pool,
    strategy,
    *,
    raters,
    panel,
    budget,
    selection: str,
    random_state: int,
    oracle: tuple[np.ndarray, float] | None = None,
    coverage: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """The platform's decisions (learner.cooperative.decide) on the open pool.

    Diagnostics: `oracle`, the open clips' gold and the machine labels' target error,
    replaces the calibrated confidence by the prediction's real error, with the
    platform's rule for the threshold (the largest whose self-labelled clips meet the
    target on average); `coverage`, every clip's position and the human-rated clips,
    sends people the unconfident clips farthest from those rated (farthest_first)."""
    dynamic = strategy != "cooperative"
    scores = bundle.predict(X[open_pool])
    prediction = np.clip(scores.values, -1, 1)
    expected_error, threshold = scores.expected_error, bundle.self_label_threshold
    if oracle is not None:
        gold, target_error = oracle
        expected_error = np.abs(prediction - gold)
        worst = np.nanmax(expected_error, axis=1)
        threshold = choose_self_label_threshold(
            expected_error=worst, real_error=worst, target_error=target_error
        )
    decisions = decide(
        expected_error=expected_error,
        agreement=scores.agreement,
        self_label_threshold=threshold,
        human_budget=budget if dynamic else max(1, budget // raters),
        min_raters=1 if dynamic else raters,
        max_raters=MAX_RATERS,
        selection=selection,
        random_state=random_state,
    )
    spent, noise, each = labeller.cost, labeller.noise(), labeller.rater_noise_each()
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
    if coverage is not None:
        Z, human = coverage
        open_ = np.array([i for i, d in enumerate(decisions) if d.action != Action.SELF_LABEL])
        picks = farthest_first(Z[open_pool[open_]], Z[human], budget) if open_.size else []
        order = [int(open_[j]) for j in picks]
    for i in order:
        if labeller.cost - spent >= budget:
            break
        if dynamic:
            labeller.ask_dynamic(int(open_pool[i]), noise, panel, each)
        else:
            labeller.ask(int(open_pool[i]), decisions[i].n_raters)


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


def cost_grid(results: dict) -> np.ndarray:
    """Every rating count from the first round's to the last: a curve "reaches and stays"
    only if it stays at every count, not just at sampled ones (a coarse grid skips dips,
    and a grid that depends on other strategies' budgets moves a strategy's point)."""
    top = max(r[-1]["cost"] for runs in results.values() for r in runs)
    start = min(r[0]["cost"] for runs in results.values() for r in runs)
    return np.arange(start, top + 1)


def reach_and_stay(grid: np.ndarray, median: np.ndarray, level: float) -> int | None:
    below = np.flatnonzero(~(median >= level))
    if below.size == 0:
        return int(grid[0])
    if below[-1] + 1 >= grid.size:
        return None
    return int(grid[below[-1] + 1])


N_BOOT = 500


def _reach(grid: np.ndarray, curves: np.ndarray, full_ccc: np.ndarray) -> float:
    """Ratings at which the median of `curves` reaches 95 % of the median full CCC; inf
    when it never does."""
    needed = reach_and_stay(grid, np.nanmedian(curves, axis=0), 0.95 * np.median(full_ccc))
    return float("inf") if needed is None else float(needed)


def _interval(values: np.ndarray) -> list[float | None]:
    """2.5th and 97.5th percentiles; draws where the ratio is undefined (neither side
    reached) are left out; an infinite end (not reached) is None."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return [None, None]
    low, high = np.percentile(values, [2.5, 97.5], method="nearest")  # inf stays inf
    return [None if not np.isfinite(v) else float(v) for v in (low, high)]


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
        # Splits resampled with replacement, the same draw for every strategy (runs are
        # aligned by split), and the 95 % point recomputed on each draw's median curves.
        draws = [rng.integers(0, len(full["fixed"]), len(full["fixed"])) for _ in range(N_BOOT)]
        random_reach = [_reach(grid, random_curves[rows], full["fixed"][rows, t]) for rows in draws]
        for name, runs in results.items():
            curves = curve_on_grid(runs, t, grid)
            median = np.nanmedian(curves, axis=0)
            needed = reach_and_stay(grid, median, 0.95 * full_ccc)
            reach = [_reach(grid, curves[rows], full["fixed"][rows, t]) for rows in draws]
            share = np.array([r / full["cost"] for r in reach])
            with np.errstate(invalid="ignore"):
                versus = np.array(reach) / np.array(random_reach)
            maes = [
                x["machine_mae"] for run in runs for x in run[-1:] if x["machine_mae"] is not None
            ]
            ranks = [
                np.nanmean(per_run)
                for run in runs
                if (per_run := [x["confidence_rank"][t] for x in run if x["confidence_rank"]])
                and np.isfinite(per_run).any()
            ]
            ratio = np.nanmean(curves[:, upto], axis=1) / np.nanmean(random_curves[:, upto], axis=1)
            boot = [np.nanmedian(rng.choice(ratio, ratio.size)) for _ in range(1000)]
            entry["strategies"][name] = {
                "ratings_to_95": needed,
                "final_ccc": float(np.nanmedian([run[-1]["ccc"][t] for run in runs])),
                "machine_label_mae": float(np.median(maes)) if maes else None,
                # Spearman correlation of the confidence's expected error with the real
                # error on test clips (mean over rounds, median over splits).
                "confidence_error_spearman": float(np.nanmedian(ranks)) if ranks else None,
                # Human ratings per human-rated clip at the end (seed set included).
                "ratings_per_clip": float(
                    np.median([run[-1]["cost"] / max(1, run[-1]["human_clips"]) for run in runs])
                ),
                "auc_ratio_vs_random": float(np.nanmedian(ratio)),
                "auc_ratio_vs_random_ci95": [
                    float(np.percentile(boot, 2.5)),
                    float(np.percentile(boot, 97.5)),
                ],
                "median_curve": [None if np.isnan(v) else float(v) for v in median],
                # Not reached counts as infinitely many ratings: an open upper end is null.
                "ratings_to_95_share_of_full_ci95": _interval(share),
                "ratings_to_95_ratio_to_random_ci95": _interval(versus),
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


def _span(interval: list[float | None], spec: str, missing: str) -> str:
    low, high = interval
    if low is None:
        return missing
    return f"{low:{spec}}-{'not reached' if high is None else format(high, spec)}"


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
            "| strategy | ratings to 95 % | share of full (95 % CI) | saving vs full "
            "| ratio to random (95 % CI) | final CCC | AUC vs random (95 % CI) "
            "| machine-label MAE | confidence-error rank corr. | ratings per clip |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, s in entry["strategies"].items():
            needed = s["ratings_to_95"]
            share = f"{needed / full_cost:.0%}" if needed is not None else "not reached"
            saving = f"{1 - needed / full_cost:.0%}" if needed is not None else "-"
            ratio = (
                f"{needed / random_needed:.2f}" if needed is not None and random_needed else "n/a"
            )
            mae = f"{s['machine_label_mae']:.3f}" if s["machine_label_mae"] is not None else "-"
            rank = s["confidence_error_spearman"]
            rank = f"{rank:.2f}" if rank is not None else "-"
            low, high = s["auc_ratio_vs_random_ci95"]
            share_ci = _span(s["ratings_to_95_share_of_full_ci95"], ".0%", "not reached")
            ratio_ci = _span(s["ratings_to_95_ratio_to_random_ci95"], ".2f", "n/a")
            lines.append(
                f"| {name} | {needed if needed is not None else 'not reached'} "
                f"| {share} ({share_ci}) | {saving} | {ratio} ({ratio_ci}) "
                f"| {s['final_ccc']:.3f} | {s['auc_ratio_vs_random']:.3f} "
                f"({low:.3f}-{high:.3f}) | {mae} | {rank} | {s['ratings_per_clip']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
@dataclass
class CorpusRun:
    """What every job of one corpus shares (read-only; sent once to each worker)."""

    corpus: object
    X: np.ndarray
    crowd: CrowdSimulator
    targets: list[str]
    gold: np.ndarray
    args: argparse.Namespace
    layout: np.ndarray  # principal components, for the coverage diagnostics


_RUN: CorpusRun | None = None


def _adopt(run: CorpusRun) -> None:
    global _RUN
    _RUN = run


def run_job(seed: int, fold: int, name: str) -> dict:
    """One strategy (or "full" supervision) on one speaker split of the current corpus."""
    run, args = _RUN, _RUN.args
    speakers = run.corpus.speakers
    split = make_split(speakers, speaker_folds(speakers, args.folds, seed), fold, seed, 0.05)
    full_cost = args.raters * split.pool.size
    test_gold = run.gold[split.test]

    def test_ccc(model) -> list[float]:
        pred = np.asarray(model.predict(run.X[split.test])).reshape(len(split.test), -1)
        return [ccc(test_gold[:, t], pred[:, t]) for t in range(len(run.targets))]

    weighted = args.labels == "weighted"
    dev = development_ratings(run.crowd, run.targets, split.dev, args.raters, weighted=weighted)
    if name == "full":
        fixed = Labeller(run.crowd, run.targets, known=dev, weighted=weighted)
        for clip in split.pool:
            fixed.ask(int(clip), args.raters)
        pool_set = fixed.labelled_set(run.X, speakers)
        everything = make_regressor(args.regressor, random_state=seed)
        every_rater = make_regressor(args.regressor, random_state=seed)
        return {
            "fixed": test_ccc(everything.fit(pool_set.X, pool_set.y)),
            "all": test_ccc(every_rater.fit(run.X[split.pool], run.gold[split.pool])),
            "cost": full_cost,
        }
    return {
        "rounds": run_once(
            run.X,
            run.gold,
            run.crowd,
            run.targets,
            split,
            name,
            groups=speakers,
            dev=dev,
            raters=args.raters,
            budget=max(args.raters, round(args.round_share * full_cost)),
            max_cost=round(args.max_share * full_cost),
            regressor=args.regressor,
            seed=seed,
            selection=args.selection,
            panel=args.panel,
            layout=run.layout,
        )
    }


def prepare_corpus(corpus_dir: Path, args) -> CorpusRun:
    """Load a corpus, its cached features and its crowd (replayed or simulated)."""
    corpus = load_corpus(corpus_dir)
    X = corpus_features(corpus, args.extractor)
    if args.normalise == "speaker":
        X = speaker_normalise(X, corpus.speakers)
    votes_csv = SHARED / "crema_d" / "votes_voice.csv"
    votes = CremaVotes.load(votes_csv) if votes_csv.is_file() and not corpus.ratings else None
    targets = [t for t in ("arousal", "valence") if t in corpus.targets] or list(corpus.targets)
    # A crowd of CROWD_SIZE people, RATERS_PER_CLIP of them (CREMA-D's ~9) rating each clip.
    crowd = CrowdSimulator(
        corpus, votes=votes, n_raters=CROWD_SIZE, raters_per_clip=RATERS_PER_CLIP, random_state=0
    )
    # Gold: every clip's label from all its raters, as the platform aggregates them (also
    # with --labels mean, so that both aggregations are scored against the same gold).
    everyone = Labeller(crowd, targets)
    for clip in range(len(corpus.clip_ids)):
        everyone.ask(clip, crowd.n_available(clip))
    each = everyone.rater_noise_each()
    unrated = np.full(len(targets), np.nan)
    gold = np.array(
        [
            everyone.label(clip, each) if clip in everyone.ratings else unrated
            for clip in range(len(corpus.clip_ids))
        ]
    )
    return CorpusRun(corpus, X, crowd, targets, gold, args, principal_components(X))


def crowd_note(run: CorpusRun) -> str:
    if run.corpus.ratings:
        return "replayed from ratings.csv"
    if run.crowd.votes is not None:
        return "simulated: raters answer with real CREMA-D vote distributions"
    return "simulated: gold plus rater noise"


def bench_corpus(corpus_dir: Path, args, out: Path, progress) -> tuple[dict, str]:
    global _RUN
    _RUN = prepare_corpus(corpus_dir, args)
    corpus, targets = _RUN.corpus, _RUN.targets
    jobs = [
        (seed, fold, name)
        for seed in range(args.seeds)
        for fold in range(args.folds)
        for name in ("full", *args.strategies)
    ]
    # Fresh worker processes (forking a process that holds thread pools can deadlock),
    # each handed the corpus once; a job returns only its curve.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=args.jobs, mp_context=context, initializer=_adopt, initargs=(_RUN,)
    ) as pool:
        futures = {pool.submit(run_job, *job): job for job in jobs}
        done = {}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            if futures[future][2] != "full":
                progress()
    results = {name: [] for name in args.strategies}
    full = {"fixed": [], "all": [], "cost": 0}
    rows = []
    for seed, fold, name in jobs:
        outcome = done[(seed, fold, name)]
        if name == "full":
            full["fixed"].append(outcome["fixed"])
            full["all"].append(outcome["all"])
            full["cost"] = max(full["cost"], outcome["cost"])
            continue
        results[name].append(outcome["rounds"])
        for i, r in enumerate(outcome["rounds"]):
            rows.append(
                {
                    "corpus": corpus.root.name,
                    "seed": seed,
                    "fold": fold,
                    "strategy": name,
                    "round": i,
                    "ratings": r["cost"],
                    "human_clips": r["human_clips"],
                    "machine_labels": r["machine_labels"],
                    "machine_label_mae": r["machine_mae"],
                    **{f"ccc_{t}": r["ccc"][j] for j, t in enumerate(targets)},
                    **{
                        f"confidence_spearman_{t}": r["confidence_rank"][j]
                        if r["confidence_rank"]
                        else None
                        for j, t in enumerate(targets)
                    },
                }
            )
    full = {"fixed": np.array(full["fixed"]), "all": np.array(full["all"]), "cost": full["cost"]}
    grid = cost_grid(results)
    summary = summarise(results, full, targets, grid, np.random.default_rng(0))
    plot(summary, results, grid, targets, out, corpus.root.name)
    with (out / f"rounds-{corpus.root.name}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for entry in summary.values():
        entry["crowd"] = crowd_note(_RUN)
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
    parser.add_argument(
        "--panel",
        type=int,
        default=None,
        help="dynamic raters make a label as certain as a mean of this many raters "
        "(the platform's rater_panel; default --raters)",
    )
    parser.add_argument("--extractor", default="librosa", choices=["librosa", "egemaps"])
    parser.add_argument(
        "--normalise",
        default="speaker",
        choices=["speaker", "none"],
        help="standardise features within each speaker (learner.features.speaker_normalise)",
    )
    parser.add_argument("--regressor", default="linear", choices=["linear", "mlp"])
    parser.add_argument(
        "--labels",
        default="weighted",
        choices=["weighted", "mean"],
        help="a clip's label: ratings weighted by their rater's learnt noise, as the "
        "platform does, or their plain mean (gold is the platform's label from all raters)",
    )
    parser.add_argument(
        "--strategies",
        type=lambda text: text.split(","),
        default=list(STRATEGIES),
        help="comma-separated subset of "
        + ",".join(STRATEGIES + DIAGNOSTICS)
        + " (random always runs)",
    )
    parser.add_argument(
        "--selection",
        default="top",
        choices=["top", "proportional"],
        help="how cooperative strategies pick the clips for humans (learner.cooperative.decide)",
    )
    parser.add_argument(
        "--platform",
        action="store_true",
        help="drive one split through the real platform (project, API, Celery) instead",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="worker processes")
    args = parser.parse_args(argv)
    if args.quick:
        args.corpus, args.seeds, args.folds, args.max_share = args.corpus[:1], 1, 3, 0.4
    unknown = set(args.strategies) - set(STRATEGIES) - set(DIAGNOSTICS)
    if unknown:
        parser.error(f"unknown strategies: {', '.join(sorted(unknown))}")
    args.strategies = [
        "random",
        *[s for s in STRATEGIES + DIAGNOSTICS if s in args.strategies and s != "random"],
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.platform:
        return platform_main(args, argv)
    total = len(args.corpus) * args.seeds * args.folds * len(args.strategies)
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
        f"extractor {args.extractor} (normalised: {args.normalise}), regressor "
        f"{args.regressor}, {args.seeds} seeds x "
        f"{args.folds} speaker folds, {args.raters} raters per clip for fixed strategies.\n\n"
        + "\n".join(tables)
    )
    return summary


def platform_main(args, argv) -> dict:
    from bench.platform_mode import platform_markdown, run_platform

    started = time.time()
    results = {}
    for corpus_dir in args.corpus:
        result = run_platform(corpus_dir, args, args.out)
        results[result["corpus"]] = result
    (args.out / "platform.json").write_text(json.dumps(results, indent=1))
    command = "python -m bench.label_efficiency " + " ".join(sys.argv[1:] if argv is None else argv)
    (args.out / "report-platform.md").write_text(
        f"# Label efficiency through the platform\n\n`{command}`\n\n{describe()}; "
        f"{time.time() - started:.0f} s; extractor {args.extractor} (normalised: "
        f"{args.normalise}), regressor "
        f"{args.regressor}.\n\n" + "\n".join(platform_markdown(r) for r in results.values())
    )
    return results


if __name__ == "__main__":
    main()
