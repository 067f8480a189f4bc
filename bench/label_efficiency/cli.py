"""`python -m bench.label_efficiency`: every job of every corpus in worker processes, then
the rounds (CSV), the summary (JSON), plots and the report; `--platform` hands over to
bench.platform_mode."""

import argparse
import csv
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from bench.label_efficiency import protocol
from bench.label_efficiency.report import cost_grid, markdown, plot, summarise
from bench.label_efficiency.strategies import DIAGNOSTICS, PRIOR_STRATEGIES, REGISTRY, STRATEGIES
from bench.machine import describe
from learner.features import EXTRACTORS
from learner.prior import PLATFORM_MODES, PRIOR_MODES, PRIOR_NORMALISATIONS
from learner.regressors import REGRESSORS

# A new project's defaults (annotate.models.Project: feature_extractor,
# feature_normalisation, regressor), which the benchmark measures unless told otherwise.
# Written out here because they live only on the Django model, which the benchmark does
# not import; tests/test_label_efficiency_defaults.py checks that they agree.
PLATFORM_EXTRACTOR = "compare16k"
PLATFORM_NORMALISATION = "none"
PLATFORM_REGRESSOR = "linear_clipped"


def run_jobs(run: protocol.CorpusRun, jobs: list[tuple], progress) -> dict[tuple, dict]:
    """{(seed, fold, name): outcome} of protocol.run_job, in fresh worker processes
    (forking a process that holds thread pools can deadlock), each handed the corpus
    once; a job returns only its curve."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=run.args.jobs,
        mp_context=context,
        initializer=protocol.adopt,
        initargs=(run,),
    ) as pool:
        futures = {pool.submit(protocol.run_job, *job): job for job in jobs}
        done = {}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            if futures[future][2] != "full":
                progress()
    return done


def round_row(corpus_name: str, targets, seed: int, fold: int, name: str, i: int, r: dict):
    """One line of rounds-<corpus>.csv."""
    return {
        "corpus": corpus_name,
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
            f"confidence_spearman_{t}": r["confidence_rank"][j] if r["confidence_rank"] else None
            for j, t in enumerate(targets)
        },
        # Cooperative strategies: the order the round's model gave the human queue ("top":
        # least confident first, or "random"); empty for the others.
        "queue_order": r.get("queue_order") or "",
        # Prior strategies: the view the round's model learnt from, and whether it was
        # the prior's (protocol.choose_view); empty for cold strategies.
        "view": r.get("view", ""),
        "prior_kept": r.get("prior_kept", ""),
    }


def bench_corpus(corpus_dir: Path, args, out: Path, progress) -> tuple[dict, str]:
    run = protocol.prepare_corpus(corpus_dir, args)
    corpus_name, targets = run.corpus.root.name, run.targets
    jobs = [
        (seed, fold, name)
        for seed in range(args.seeds)
        for fold in range(args.folds)
        for name in ("full", *args.strategies)
    ]
    done = run_jobs(run, jobs, progress)
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
            rows.append(round_row(corpus_name, targets, seed, fold, name, i, r))
    full = {"fixed": np.array(full["fixed"]), "all": np.array(full["all"]), "cost": full["cost"]}
    grid = cost_grid(results)
    summary = summarise(results, full, targets, grid, np.random.default_rng(0))
    plot(summary, results, grid, targets, out, corpus_name)
    with (out / f"rounds-{corpus_name}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for entry in summary.values():
        entry["crowd"] = protocol.crowd_note(run)
        entry["grid"] = grid.tolist()
    return summary, markdown(summary, corpus_name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    import bench.label_efficiency as package

    parser = argparse.ArgumentParser(
        prog="python -m bench.label_efficiency", description=package.__doc__.splitlines()[0]
    )
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
    parser.add_argument(
        "--extractor",
        default=PLATFORM_EXTRACTOR,
        choices=list(EXTRACTORS),
        help="learner.features extractor (default: a new project's)",
    )
    parser.add_argument(
        "--normalise",
        default=PLATFORM_NORMALISATION,
        choices=list(protocol.NORMALISATIONS),
        help="features as extracted (none), standardised within each speaker "
        "(learner.features.speaker_normalise) or over the corpus (corpus_normalise); "
        "default: a new project's",
    )
    parser.add_argument(
        "--regressor",
        default=PLATFORM_REGRESSOR,
        choices=list(REGRESSORS),
        help="learner.regressors name (default: a new project's)",
    )
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
        default=None,
        help="comma-separated subset of "
        + ",".join(STRATEGIES + PRIOR_STRATEGIES + DIAGNOSTICS)
        + " (random always runs; default: "
        + ",".join(STRATEGIES)
        + ", and with --prior "
        + ",".join(PRIOR_STRATEGIES)
        + ")",
    )
    parser.add_argument(
        "--prior",
        type=Path,
        action="append",
        default=[],
        metavar="CORPUS_DIR",
        help="a corpus the prior strategies' prior learns from (its gold; repeatable); "
        "the corpus under test itself lends a fold's worth of its speakers, taken out of "
        "every strategy's pool",
    )
    parser.add_argument(
        "--prior-normalisation",
        default="auto",
        choices=["auto", *PRIOR_NORMALISATIONS],
        help="the prior's feature scale: within each corpus, within each speaker, or "
        "(auto) whichever scores better zero-shot on the development speakers",
    )
    parser.add_argument(
        "--prior-modes",
        type=lambda text: text.split(","),
        default=list(PLATFORM_MODES),
        help="comma-separated ways the prior learns with the labels, each a warm "
        f"candidate against the cold model ({', '.join(PRIOR_MODES)}; default the "
        f"platform's: {', '.join(PLATFORM_MODES)})",
    )
    parser.add_argument(
        "--selection",
        default="auto",
        choices=["auto", "top", "proportional"],
        help="how cooperative strategies pick the clips for humans (learner.cooperative.decide):"
        " as the platform does (auto: the least confident first, or a random draw while the"
        " confidence does not rank errors on development speakers), always the least"
        " confident (top), or drawn in proportion to uncertainty",
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
    if args.strategies is None:
        args.strategies = list(STRATEGIES) + (list(PRIOR_STRATEGIES) if args.prior else [])
    unknown = set(args.strategies) - set(REGISTRY)
    if unknown:
        parser.error(f"unknown strategies: {', '.join(sorted(unknown))}")
    if not args.prior and set(args.strategies) & set(PRIOR_STRATEGIES):
        parser.error("prior strategies need --prior CORPUS_DIR")
    if set(args.prior_modes) - set(PRIOR_MODES) or not args.prior_modes:
        parser.error(f"--prior-modes: choose among {', '.join(PRIOR_MODES)}")
    if args.platform and args.normalise == "corpus":
        parser.error("--platform: a project's features are normalised none or speaker")
    args.strategies = [
        "random",
        *[s for s in REGISTRY if s in args.strategies and s != "random"],
    ]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
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
    (args.out / "report.md").write_text(
        f"# Label efficiency\n\n`{command_line(argv)}`\n\n{describe()}; "
        f"{time.time() - started:.0f} s; "
        f"extractor {args.extractor} (normalised: {args.normalise}), regressor "
        f"{args.regressor}, {args.seeds} seeds x "
        f"{args.folds} speaker folds, {args.raters} raters per clip for fixed strategies."
        f"{prior_note(args)}\n\n" + "\n".join(tables)
    )
    return summary


def prior_note(args) -> str:
    """What the prior strategies' prior learnt from, for the report's header."""
    if not args.prior:
        return ""
    names = ", ".join(path.resolve().name for path in args.prior)
    return (
        f" Prior: ridge ({args.regressor}) on the gold of {names} (a corpus under test "
        "lends a fold's worth of its own speakers, out of every strategy's pool), features "
        f"normalised {args.prior_normalisation} (auto: per split, the scale scoring better "
        "zero-shot on the development speakers); each round keeps it only where it helps "
        f"there (prior modes: {', '.join(args.prior_modes)})."
    )


def command_line(argv: list[str] | None) -> str:
    return "python -m bench.label_efficiency " + " ".join(sys.argv[1:] if argv is None else argv)


def platform_main(args, argv) -> dict:
    # Imported here: bench.platform_mode imports this package's protocol.
    from bench.platform_mode import platform_markdown, run_platform

    started = time.time()
    results = {}
    for corpus_dir in args.corpus:
        result = run_platform(corpus_dir, args, args.out)
        results[result["corpus"]] = result
    (args.out / "platform.json").write_text(json.dumps(results, indent=1))
    (args.out / "report-platform.md").write_text(
        f"# Label efficiency through the platform\n\n`{command_line(argv)}`\n\n{describe()}; "
        f"{time.time() - started:.0f} s; extractor {args.extractor} (normalised: "
        f"{args.normalise}), regressor "
        f"{args.regressor}.\n\n" + "\n".join(platform_markdown(r) for r in results.values())
    )
    return results
