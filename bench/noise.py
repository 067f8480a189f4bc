"""Noisy recordings: what white and babble noise cost the default features, with and
without an enhancement front end (seed section 3).

    python -m bench.noise --corpus ../shared/data/emodb [--corpus DIR ...] [--snr 0,6,12]
        [--noise white,babble] [--enhance none,spectral,dae] [--seeds 1] [--folds 5]
        [--no-multi] [--dae-steps 400] [--cache DIR]

On full supervision's speaker splits (bench.full_supervision: every pool clip rated by 3
simulated raters, ridge on librosa functionals), the model is trained on the clean pool
and tested on the test speakers' clips with noise added at each SNR (learner.noise; babble
from 4 clips of speakers outside the test split), the features extracted from the noisy
audio, after a front end (learner.enhance) where one is named: "spectral" (Wiener-style
gain, nothing learnt) or "dae" (the recurrent denoising autoencoder, trained per split on
the pool clips with white or babble noise at random SNRs in 0..12 dB, two noisy copies a
clip). The front ends also run on the clean test clips, to show what they cost there.
With multi-condition training ("multi", on by default) the regressor is trained on the
clean pool plus one noisy copy of every pool clip (white or babble, 0..12 dB; babble from
other speakers of the clip's own speaker fold, so never a test or development speaker)
and tested without a front end.

Median test CCC over splits per target, for normalisation none, speaker and auto (the
platform's default, chosen per split on the clean development speakers as in
bench.full_supervision.choose_by_dev); in brackets the share of the clean reference (no
noise, no front end, same normalisation). "out SNR" is the median over test clips of the
SNR of the audio the extractor received, against the clean clip. The test speakers'
clips are all noisy, so speaker normalisation standardises them with noisy statistics.
Features are cached per corpus, noise, SNR, front end and seed under var/cache/noise/.
Prints markdown tables.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from bench.full_supervision import choose_by_dev, rated_split
from bench.label_efficiency.protocol import (
    ROOT,
    CorpusRun,
    Labeller,
    Split,
    make_split,
    prepare_corpus,
    speaker_folds,
)
from bench.machine import describe
from learner.enhance import RecurrentDenoiser, SpectralGain, make_enhancer
from learner.features import get_extractor, speaker_normalise
from learner.metrics import ccc
from learner.noise import add_noise, noise_rng, output_snr_db
from learner.regressors import make_regressor, predict_matrix

SR = 16000
VERSION = "1"  # of the noise and front-end recipe: features cached under another are redone
NORMALISATIONS = ("none", "speaker", "auto")
TRAINING_SNR = (0.0, 12.0)  # multi-condition training and the denoiser: uniform in this range
DAE_COPIES = 2  # noisy copies of each pool clip the denoiser trains on


@dataclass
class SeedSplits:
    """One seed's speaker splits, with each split's rated pool, development ratings and
    the auto normalisation's choice (on clean features)."""

    seed: int
    folds: list[np.ndarray]
    splits: list[Split]
    labellers: list[Labeller]
    auto: list[str]


@dataclass
class NoisyCorpus:
    """A corpus's clean run, its 16 kHz audio, and the front ends fitted so far."""

    run: CorpusRun
    audio: list[np.ndarray]
    args: argparse.Namespace
    stem: str
    fold_of: dict[int, np.ndarray] = field(default_factory=dict)
    fronts: dict[tuple, SpectralGain | RecurrentDenoiser] = field(default_factory=dict)

    @property
    def speakers(self) -> np.ndarray:
        return self.run.corpus.speakers

    def cached(self, name: str, compute) -> tuple[np.ndarray, np.ndarray]:
        """(features, output SNR per clip) from the cache, or computed and stored."""
        path = self.args.cache / f"{self.stem}-{name}.npz"
        if path.is_file():
            stored = np.load(path)
            if stored["X"].shape == self.run.X.shape:
                return stored["X"], stored["snr"]
        X, snr = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, X=X, snr=snr)
        os.replace(partial, path)
        return X, snr

    def training_copy(self, seed: int, clip: int, variant: int) -> np.ndarray:
        """A noisy copy of a clip for training: white or babble noise at a random SNR;
        babble from other speakers of the clip's own fold (in the pool whenever the clip
        is, never a test or development speaker)."""
        rng = noise_rng(seed, clip, variant)
        kind = str(rng.choice(self.args.noise))
        snr = float(rng.uniform(*TRAINING_SNR))
        folds = self.fold_of[seed]
        own = folds == folds[clip]
        return add_noise(self.audio, clip, kind, snr, speakers=self.speakers, allowed=own, rng=rng)

    def front_end(self, ss: SeedSplits, fold: int, name: str):
        """The front end `name` fitted for split `fold` (None for "none")."""
        if name == "none":
            return None
        key = (ss.seed, fold, name)
        if key not in self.fronts:
            if name == "dae":
                pool = ss.splits[fold].pool
                noisy = [self.training_copy(ss.seed, c, v) for c in pool for v in range(DAE_COPIES)]
                clean = [self.audio[c] for c in pool for _ in range(DAE_COPIES)]
                front = make_enhancer(
                    name, n_steps=self.args.dae_steps, random_state=1000 * ss.seed + fold
                )
                started = time.time()
                self.fronts[key] = front.fit(noisy, clean)
                print(
                    f"  dae fitted for seed {ss.seed} fold {fold} in {time.time() - started:.0f} s"
                )
            else:
                self.fronts[key] = make_enhancer(name).fit()
        return self.fronts[key]

    def test_features(self, ss: SeedSplits, noise: str, snr: float | None, enhancer: str):
        """Every clip's features as its split tests it: `noise` at `snr` dB (babble from
        speakers outside the test split), through the split's front end."""
        if noise == "clean" and enhancer == "none":
            return self.run.X, np.full(len(self.audio), np.inf)
        extractor = get_extractor(self.run.args.extractor)
        token = f"dae{self.args.dae_steps}" if enhancer == "dae" else enhancer
        name = f"{noise}-{snr}-{token}-s{ss.seed}-k{len(ss.folds)}"

        def compute():
            X = np.full(self.run.X.shape, np.nan, dtype=self.run.X.dtype)
            out = np.full(len(self.audio), np.nan)
            for fold, split in enumerate(ss.splits):
                front = self.front_end(ss, fold, enhancer)
                for clip in split.test:
                    clean = self.audio[clip]
                    audio = clean
                    if noise != "clean":
                        audio = add_noise(
                            self.audio,
                            clip,
                            noise,
                            snr,
                            speakers=self.speakers,
                            allowed=~ss.folds[fold],
                            rng=noise_rng(ss.seed, clip, noise),
                        )
                    if front is not None:
                        audio = front.transform([audio])[0]
                    X[clip] = extractor.extract(audio, SR)
                    out[clip] = output_snr_db(clean, audio)
            return X, out

        return self.cached(name, compute)

    def training_features(self, ss: SeedSplits) -> np.ndarray:
        """Every clip's features from one noisy training copy (multi-condition training)."""
        extractor = get_extractor(self.run.args.extractor)

        def compute():
            rows, out = [], []
            for clip in range(len(self.audio)):
                audio = self.training_copy(ss.seed, clip, 0)
                rows.append(extractor.extract(audio, SR))
                out.append(output_snr_db(self.audio[clip], audio))
            return np.vstack(rows), np.array(out)

        return self.cached(f"multi-s{ss.seed}-k{len(ss.folds)}", compute)[0]


def load_audio(corpus) -> list[np.ndarray]:
    """Every clip as 16 kHz mono float32, as bench.label_efficiency.protocol reads it."""
    clips = []
    for path in corpus.paths:
        audio, sr = sf.read(corpus.root / path, dtype="float32", always_2d=True)
        mono = audio.mean(axis=1)
        clips.append(mono if sr == SR else soxr.resample(mono, sr, SR).astype(np.float32))
    return clips


def seed_splits(run: CorpusRun, seed: int, args) -> SeedSplits:
    """The speaker splits of one seed, each pool rated by `--raters` simulated raters."""
    speakers = run.corpus.speakers
    features = {"none": run.X, "speaker": speaker_normalise(run.X, speakers)}
    weighted = args.labels == "weighted"
    folds = speaker_folds(speakers, args.folds, seed)
    splits, labellers, auto = [], [], []
    for fold in range(args.folds):
        split = make_split(speakers, folds, fold, seed, 0.05)
        labeller, dev = rated_split(run, split, args.raters, weighted=weighted)
        splits.append(split)
        labellers.append(labeller)
        auto.append(choose_by_dev(features, labeller, dev, run, "linear", seed))
    return SeedSplits(seed, folds, splits, labellers, auto)


def split_ccc(
    ctx: NoisyCorpus, ss: SeedSplits, X_test: np.ndarray, X_extra: np.ndarray | None = None
) -> dict[str, list[list[float]]]:
    """{normalisation: per split, test CCC per target}: ridge on the clean pool (plus the
    pool's rows of `X_extra`, multi-condition), tested on the rows of `X_test`."""
    speakers, gold = ctx.speakers, ctx.run.gold
    scores: dict[str, list[list[float]]] = {name: [] for name in NORMALISATIONS}
    extra = None
    if X_extra is not None:
        extra = {"none": X_extra, "speaker": speaker_normalise(X_extra, speakers)}
    for split, labeller, auto in zip(ss.splits, ss.labellers, ss.auto, strict=True):
        view = ctx.run.X.copy()
        view[split.test] = X_test[split.test]
        views = {"none": view, "speaker": speaker_normalise(view, speakers)}
        for name in NORMALISATIONS:
            chosen = auto if name == "auto" else name
            data = labeller.labelled_set(views[chosen], speakers)
            X_train, y_train = data.X, data.y
            if extra is not None:
                noisy = labeller.labelled_set(extra[chosen], speakers)
                X_train, y_train = np.vstack([X_train, noisy.X]), np.vstack([y_train, noisy.y])
            model = make_regressor("linear", random_state=ss.seed).fit(X_train, y_train)
            pred = predict_matrix(model, views[chosen][split.test])
            test_gold = gold[split.test]
            scores[name].append([ccc(test_gold[:, t], pred[:, t]) for t in range(gold.shape[1])])
    return scores


def conditions(args) -> list[tuple[str, float | None, str]]:
    """(noise, SNR, front end or "multi"): the clean reference first."""
    fronts = [name for name in args.enhance if name != "none"]
    rows = [("clean", None, "none")] + [("clean", None, name) for name in fronts]
    if args.multi:
        rows.append(("clean", None, "multi"))
    for noise in args.noise:
        for snr in args.snr:
            rows += [(noise, snr, name) for name in args.enhance]
            if args.multi:
                rows.append((noise, snr, "multi"))
    return rows


def corpus_scores(corpus_dir: Path, args) -> tuple[list[str], dict[tuple, dict]]:
    """{(noise, SNR, front end): {"ccc": {normalisation: (n_splits, n_targets)},
    "snr": median output SNR}} over every seed's splits."""
    run = prepare_corpus(
        corpus_dir, argparse.Namespace(extractor="librosa", normalise="none", **vars(args))
    )
    listing = hashlib.sha256((run.corpus.root / "clips.csv").read_bytes()).hexdigest()[:12]
    key = get_extractor("librosa").cache_key
    stem = f"{run.corpus.root.name}-{listing}-{key}-v{VERSION}"
    ctx = NoisyCorpus(run, load_audio(run.corpus), args, stem)
    results: dict[tuple, dict] = {}
    for seed in range(args.seeds):
        ss = seed_splits(run, seed, args)
        ctx.fold_of[seed] = np.argmax(np.array(ss.folds), axis=0)
        extra = ctx.training_features(ss) if args.multi else None
        for noise, snr, front in conditions(args):
            started = time.time()
            multi = front == "multi"
            X, out = ctx.test_features(ss, noise, snr, "none" if multi else front)
            scores = split_ccc(ctx, ss, X, extra if multi else None)
            entry = results.setdefault((noise, snr, front), {"ccc": {}, "snr": []})
            for name, values in scores.items():
                entry["ccc"].setdefault(name, []).extend(values)
            entry["snr"].extend(out.tolist())
            print(
                f"  {run.corpus.root.name} seed {seed} {noise} {snr} {front}: "
                f"{time.time() - started:.0f} s",
                flush=True,
            )
    for entry in results.values():
        entry["ccc"] = {name: np.array(values) for name, values in entry["ccc"].items()}
        entry["snr"] = float(np.median(entry["snr"]))
    return run.targets, results


def table(name: str, targets: list[str], results: dict[tuple, dict], norm: str) -> list[str]:
    """One normalisation's markdown table. "better" counts the splits on which a front end
    (or multi-condition training) beats the same noise without one, per target."""
    clean = results[("clean", None, "none")]["ccc"][norm]
    lines = [
        f"### {name}, normalisation {norm}: median test CCC over {len(clean)} splits "
        "(share of the clean reference)",
        "",
        "| noise | SNR dB | front end | training | out SNR dB | "
        + " | ".join(targets)
        + " | better than none |",
        "|---|---|---|---|---|" + "---|" * (len(targets) + 1),
    ]
    reference = np.median(clean, axis=0)
    for (noise, snr, front), entry in results.items():
        scores = entry["ccc"][norm]
        medians = np.median(scores, axis=0)
        cells = [f"{medians[t]:.3f} ({medians[t] / reference[t]:.0%})" for t in range(len(targets))]
        better = "-"
        if front != "none":
            plain = results[(noise, snr, "none")]["ccc"][norm]
            better = ", ".join(
                f"{np.sum(scores[:, t] > plain[:, t])}/{len(plain)}" for t in range(len(targets))
            )
        out = "clean" if not np.isfinite(entry["snr"]) else f"{entry['snr']:.1f}"
        training = "clean + noisy" if front == "multi" else "clean"
        shown = "none" if front == "multi" else front
        snr_cell = "-" if snr is None else f"{snr:g}"
        lines.append(
            f"| {noise} | {snr_cell} | {shown} | {training} | {out} | {' | '.join(cells)} "
            f"| {better} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument(
        "--snr", type=lambda s: [float(v) for v in s.split(",")], default=[0.0, 6.0, 12.0]
    )
    parser.add_argument("--noise", type=lambda s: s.split(","), default=["white", "babble"])
    parser.add_argument(
        "--enhance", type=lambda s: s.split(","), default=["none", "spectral", "dae"]
    )
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--labels", default="weighted", choices=["weighted", "mean"])
    parser.add_argument("--no-multi", dest="multi", action="store_false")
    parser.add_argument("--dae-steps", type=int, default=400)
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "cache" / "noise")
    args = parser.parse_args(argv)
    if "none" not in args.enhance:
        args.enhance = ["none", *args.enhance]
    torch.set_num_threads(1)
    started = time.time()
    lines = []
    for corpus_dir in args.corpus:
        targets, results = corpus_scores(corpus_dir, args)
        for norm in NORMALISATIONS:
            lines += table(corpus_dir.resolve().name, targets, results, norm)
    report = f"{describe()}; {time.time() - started:.0f} s\n\n" + "\n".join(lines)
    print(report)
    return report


if __name__ == "__main__":
    main()
