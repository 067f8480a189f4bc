"""The summary of a corpus's rounds: curves on a common cost grid, the ratings each
strategy needs to reach and stay at 95 % of full supervision (with bootstrap intervals
over splits), where the platform's stop signal fires, what a prior did (prior
strategies against their cold twins), plots and the markdown tables."""

from pathlib import Path

import numpy as np

from learner.stopping import StopSignal, stop_signal


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


def stop_round(rounds: list[dict], targets) -> tuple[int | None, StopSignal]:
    """The round of `rounds` where the platform's stop signal (learner.stopping) fires on
    the development learning curve (ratings spent, dev CCC per target), None when it does
    not, and the signal. A round that spent nothing more than the one before (the
    strategy asked nobody) adds no point to the curve."""
    kept = [i for i, r in enumerate(rounds) if i == 0 or r["cost"] > rounds[i - 1]["cost"]]
    signal = stop_signal(
        [rounds[i]["cost"] for i in kept],
        [[np.nan if v is None else v for v in rounds[i]["dev_ccc"]] for i in kept],
        targets=list(targets),
    )
    return (None if signal.round_index is None else kept[signal.round_index]), signal


def stop_summary(
    runs: list[list[dict]], stops: list[tuple[int | None, StopSignal]], t: int, full: dict
) -> dict:
    """Where the stop signal fired on target `t`: the share of splits it fired in, and over
    those splits the ratings spent as a share of full supervision's and the test CCC there
    as a share of full supervision's on the same split (median, 2.5th-97.5th percentiles);
    why it did not fire in the others."""
    fired = [
        (s, run[i])
        for s, (run, (i, _)) in enumerate(zip(runs, stops, strict=True))
        if i is not None
    ]
    cost = np.array([r["cost"] / full["cost"] for _, r in fired], dtype=np.float64)
    full_ccc = full["fixed"][:, t]
    test = np.array(
        [r["ccc"][t] / full_ccc[s] if full_ccc[s] > 0 else np.nan for s, r in fired],
        dtype=np.float64,
    )

    def median(values: np.ndarray) -> float | None:
        return float(np.nanmedian(values)) if np.isfinite(values).any() else None

    return {
        "fired_splits": len(fired),
        "splits": len(runs),
        "fired_share": len(fired) / len(runs),
        "ratings": median(np.array([r["cost"] for _, r in fired], dtype=np.float64)),
        "ratings_share_of_full": median(cost),
        "ratings_share_of_full_range": _interval(cost),
        "test_ccc_share_of_full": median(test),
        "test_ccc_share_of_full_range": _interval(test),
        "not_fired_reasons": [signal.reason for i, signal in stops if i is None],
    }


def summarise(results: dict, full: dict, targets, grid, rng) -> dict:
    """Per target: full supervision's CCC and cost, and each strategy's figures. Runs and
    the rows of `full` are aligned by split."""
    summary = {}
    # The stop signal reads every target's curve at once; runs without development CCC
    # (older round records) get none.
    stops = {
        name: [stop_round(rounds, targets) for rounds in runs]
        for name, runs in results.items()
        if all("dev_ccc" in r for rounds in runs for r in rounds)
    }
    for t, target in enumerate(targets):
        entry = {
            "full_supervision_ccc": float(np.median(full["fixed"][:, t])),
            "full_supervision_all_raters_ccc": float(np.median(full["all"][:, t])),
            "full_supervision_ratings": int(full["cost"]),
            "strategies": {},
        }
        random_curves = curve_on_grid(results["random"], t, grid)
        random_budget = max(r[-1]["cost"] for r in results["random"])
        # Splits resampled with replacement, the same draw for every strategy (runs are
        # aligned by split), and the 95 % point recomputed on each draw's median curves.
        draws = [rng.integers(0, len(full["fixed"]), len(full["fixed"])) for _ in range(N_BOOT)]
        # Full supervision's median over the same draws: its 95 % interval.
        entry["full_supervision_ccc_ci95"] = _interval(
            [np.median(full["fixed"][rows, t]) for rows in draws]
        )
        random_reach = [_reach(grid, random_curves[rows], full["fixed"][rows, t]) for rows in draws]
        for name, runs in results.items():
            entry["strategies"][name] = strategy_summary(
                runs,
                t,
                grid,
                full_ccc=full["fixed"][:, t],
                full_cost=full["cost"],
                random_curves=random_curves,
                upto=grid <= random_budget,
                random_reach=random_reach,
                draws=draws,
                rng=rng,
            )
            entry["strategies"][name]["stop_signal"] = (
                stop_summary(runs, stops[name], t, full) if name in stops else None
            )
            twin = cold_twin(name, runs, results)
            if twin is not None:
                entry["strategies"][name]["prior"] = prior_summary(
                    runs,
                    t,
                    curve_on_grid(results[twin], t, grid),
                    curve_on_grid(runs, t, grid),
                    grid,
                    max(r[-1]["cost"] for r in results[twin]),
                    rng,
                ) | {"cold_twin": twin}
        summary[target] = entry
    return summary


def cold_twin(name: str, runs: list[list[dict]], results: dict) -> str | None:
    """The cold strategy a prior strategy (one whose rounds record `prior_kept`) is
    compared with, when it ran too: its name without "_prior"."""
    if not runs or "prior_kept" not in runs[0][0]:
        return None
    twin = name.removesuffix("_prior")
    return twin if twin != name and twin in results else None


def strategy_summary(
    runs: list[list[dict]],
    t: int,
    grid: np.ndarray,
    *,
    full_ccc: np.ndarray,
    full_cost: int,
    random_curves: np.ndarray,
    upto: np.ndarray,
    random_reach: list[float],
    draws: list[np.ndarray],
    rng,
) -> dict:
    """One strategy's figures on target `t`. The areas under the curves are compared with
    random's `upto` its budget; `draws` resample the splits."""
    curves = curve_on_grid(runs, t, grid)
    median = np.nanmedian(curves, axis=0)
    needed = reach_and_stay(grid, median, 0.95 * float(np.median(full_ccc)))
    reach = [_reach(grid, curves[rows], full_ccc[rows]) for rows in draws]
    share = np.array([r / full_cost for r in reach])
    with np.errstate(invalid="ignore"):
        versus = np.array(reach) / np.array(random_reach)
    maes = [x["machine_mae"] for run in runs for x in run[-1:] if x["machine_mae"] is not None]
    ranks = [
        np.nanmean(per_run)
        for run in runs
        if (per_run := [x["confidence_rank"][t] for x in run if x["confidence_rank"]])
        and np.isfinite(per_run).any()
    ]
    ratio, ratio_ci = auc_ratio(curves, random_curves, upto, rng)
    # Cooperative strategies: the share of rounds whose model put the least confident clips
    # first (learner.cooperative.choose_queue_order); the others order the queue at random.
    orders = [x["queue_order"] for run in runs for x in run if x.get("queue_order")]
    return {
        "uncertainty_order_share": (
            float(np.mean([order == "top" for order in orders])) if orders else None
        ),
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
        "auc_ratio_vs_random": ratio,
        "auc_ratio_vs_random_ci95": ratio_ci,
        "ccc_at": ccc_at(grid, median),
        # The first round (the seed set's labels), whatever its cost on each split.
        "first_round_ccc": float(np.nanmedian([run[0]["ccc"][t] for run in runs])),
        "median_curve": [None if np.isnan(v) else float(v) for v in median],
        # Not reached counts as infinitely many ratings: an open upper end is null.
        "ratings_to_95_share_of_full_ci95": _interval(share),
        "ratings_to_95_ratio_to_random_ci95": _interval(versus),
    }


def auc_ratio(
    curves: np.ndarray, reference: np.ndarray, upto: np.ndarray, rng
) -> tuple[float, list[float]]:
    """Per split, the area under `curves` over that under `reference` (the same split's
    row) on the costs `upto`: the median over splits and a bootstrap 95 % interval of it."""
    ratio = np.nanmean(curves[:, upto], axis=1) / np.nanmean(reference[:, upto], axis=1)
    boot = [np.nanmedian(rng.choice(ratio, ratio.size)) for _ in range(1000)]
    return float(np.nanmedian(ratio)), [
        float(np.percentile(boot, 2.5)),
        float(np.percentile(boot, 97.5)),
    ]


# The costs the tables quote CCC at: the seed set's (the first round's) times these.
CCC_AT_MULTIPLES = (1, 2, 4, 8)


def ccc_at(grid: np.ndarray, median: np.ndarray) -> list[list[float | None]]:
    """[cost, median CCC] at the first round's cost times CCC_AT_MULTIPLES, within the grid."""
    out = []
    for multiple in CCC_AT_MULTIPLES:
        cost = int(grid[0]) * multiple
        if cost <= grid[-1]:
            value = median[cost - int(grid[0])]
            out.append([cost, None if np.isnan(value) else float(value)])
    return out


def prior_summary(runs: list[list[dict]], t: int, twin_curves, curves, grid, twin_budget, rng):
    """What a prior strategy's prior did on target `t`: the prior alone before any label
    (test CCC, median and range over splits), the scale chosen for it per split, the share
    of rounds whose model kept it (and of first rounds), and the area under the curve
    over its cold twin's on the same splits, up to the twin's budget.

    And what the first round's choice saw: the development scores (mean CCC over
    targets, medians over splits) of the cold and warm views and of the prior alone, which
    is no candidate (learner.prior.PLATFORM_MODES), and the share of splits where the
    prior alone, with zero labels, scored a higher test CCC than the first round's model
    (reported, never used to decide)."""
    zero = np.array([run[0]["prior_ccc"][t] for run in runs], dtype=np.float64)
    first_test = np.array([run[0]["ccc"][t] for run in runs], dtype=np.float64)

    # Views by kind: "cold", and "prior:<mode>" whatever scale the prior had per split.
    def kind(view: str) -> str:
        return "prior:" + view.split("+prior:")[1] if "+prior:" in view else "cold"

    kinds = {kind(view) for run in runs for view in run[0]["view_dev_ccc"]}
    first_dev = {
        side: float(
            np.nanmedian(
                [
                    np.nan if score is None else score
                    for run in runs
                    for view, score in run[0]["view_dev_ccc"].items()
                    if kind(view) == side
                ]
            )
        )
        for side in sorted(kinds, key=lambda side: side != "cold")
    }
    alone_dev = [
        np.mean([v for v in run[0]["prior_dev_ccc"] if v is not None] or [np.nan]) for run in runs
    ]
    kept = [bool(r["prior_kept"]) for run in runs for r in run]
    scales = [run[0]["prior_normalisation"] for run in runs]
    ratio, ratio_ci = auc_ratio(curves, twin_curves, grid <= twin_budget, rng)
    return {
        "zero_shot_ccc": float(np.nanmedian(zero)),
        "zero_shot_ccc_range": [float(np.nanmin(zero)), float(np.nanmax(zero))],
        "normalisation": {scale: scales.count(scale) for scale in sorted(set(scales))},
        "kept_share": float(np.mean(kept)),
        "kept_share_first_round": float(np.mean([bool(run[0]["prior_kept"]) for run in runs])),
        "auc_ratio_vs_cold": ratio,
        "auc_ratio_vs_cold_ci95": ratio_ci,
        "first_round_dev_ccc": first_dev | {"prior alone": float(np.nanmedian(alone_dev))},
        "prior_alone_beats_first_round_share": float(np.mean(zero > first_test)),
    }


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


def _ci(interval: list[float | None] | None) -> str:
    """The interval as " (95 % CI low-high)"; empty for summaries written before it."""
    if not interval or None in interval:
        return ""
    return f" (95 % CI {interval[0]:.3f}-{interval[1]:.3f})"


def markdown(summary: dict, corpus_name: str) -> str:
    lines = []
    for target, entry in summary.items():
        full_cost = entry["full_supervision_ratings"]
        random_needed = entry["strategies"]["random"]["ratings_to_95"]
        lines += [
            f"### {corpus_name}: {target}",
            "",
            f"Full supervision ({full_cost} ratings): CCC {entry['full_supervision_ccc']:.3f}"
            f"{_ci(entry.get('full_supervision_ccc_ci95'))}; "
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
        lines += [
            "",
            *queue_order_lines(entry["strategies"]),
            *prior_table(entry["strategies"]),
            *stop_table(entry["strategies"]),
        ]
    return "\n".join(lines)


def queue_order_lines(strategies: dict) -> list[str]:
    """A sentence on how often each cooperative strategy's models ordered the queue by
    uncertainty (nothing when none reports its order)."""
    shares = [
        f"{name} {s['uncertainty_order_share']:.0%}"
        for name, s in strategies.items()
        if s.get("uncertainty_order_share") is not None
    ]
    if not shares:
        return []
    return [
        "Rounds whose model put the least confident clips first (its confidence ranked "
        "development errors above chance; otherwise the queue was a random draw): "
        + ", ".join(shares)
        + ".",
        "",
    ]


def prior_table(strategies: dict) -> list[str]:
    """The markdown lines of the prior table (prior strategies against their cold twins);
    none without prior strategies."""
    rows = [(name, s) for name, s in strategies.items() if s.get("prior")]
    if not rows:
        return []
    costs = [cost for cost, _ in rows[0][1]["ccc_at"]]
    lines = [
        "Prior: the prior alone before any label (test CCC, median and range over splits), "
        "the rounds whose model kept it (chosen on the development speakers), test CCC at "
        "a few rating counts against the cold twin's (in brackets), and the area under the "
        "curve over the cold twin's (95 % CI over splits).",
        "",
        "| strategy | scale | zero-shot CCC | prior kept (first round) | "
        + " | ".join(f"CCC at {cost}" for cost in costs)
        + " | AUC vs cold (95 % CI) | first round's dev CCC | prior alone beats first round |",
        "|---|---|---|---|" + "---|" * len(costs) + "---|---|---|",
    ]
    for name, s in rows:
        prior = s["prior"]
        twin = dict(map(tuple, strategies[prior["cold_twin"]]["ccc_at"]))
        scale = ", ".join(f"{k} {v}" for k, v in prior["normalisation"].items())
        low, high = prior["zero_shot_ccc_range"]
        at = [f"{_number(value)} ({_number(twin.get(cost))})" for cost, value in s["ccc_at"]]
        c_low, c_high = prior["auc_ratio_vs_cold_ci95"]
        lines.append(
            f"| {name} | {scale} | {prior['zero_shot_ccc']:.3f} ({low:.2f}-{high:.2f}) "
            f"| {prior['kept_share']:.0%} ({prior['kept_share_first_round']:.0%}) | "
            + " | ".join(at)
            + f" | {prior['auc_ratio_vs_cold']:.3f} ({c_low:.3f}-{c_high:.3f}) | "
            + ", ".join(f"{k} {_number(v)}" for k, v in prior["first_round_dev_ccc"].items())
            + f" | {prior['prior_alone_beats_first_round_share']:.0%} |"
        )
    lines.append("")
    return lines


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def stop_table(strategies: dict) -> list[str]:
    """The markdown lines of the stop-signal table; none without stop signals."""
    rows = [(name, s["stop_signal"]) for name, s in strategies.items() if s.get("stop_signal")]
    if not rows:
        return []
    lines = [
        "Stop signal (learner.stopping on the development learning curve, never test "
        "gold): where it fired, median and 2.5-97.5 % range over those splits.",
        "",
        "| strategy | fired in | ratings at stop | share of full | test CCC there / full |",
        "|---|---|---|---|---|",
    ]
    for name, stop in rows:
        if not stop["fired_splits"]:
            lines.append(f"| {name} | 0/{stop['splits']} | - | - | - |")
            continue
        cost = _span(stop["ratings_share_of_full_range"], ".0%", "-")
        test = stop["test_ccc_share_of_full"]
        test = "-" if test is None else f"{test:.0%}"
        test_range = _span(stop["test_ccc_share_of_full_range"], ".0%", "-")
        lines.append(
            f"| {name} | {stop['fired_splits']}/{stop['splits']} | {stop['ratings']:.0f} "
            f"| {stop['ratings_share_of_full']:.0%} ({cost}) | {test} ({test_range}) |"
        )
    lines.append("")
    return lines
