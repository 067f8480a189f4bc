"""The protocol: speaker splits, the labeller that pays for ratings, and the rounds.

A run holds one corpus (features, crowd, gold; `prepare_corpus`); a job is one strategy,
or full supervision, on one speaker split (`run_job`); `run_once` is the round loop of
one strategy (train, evaluate on the test speakers, spend the round's ratings as the
strategy decides, bench.label_efficiency.strategies).
"""

import argparse
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bench.label_efficiency.strategies import REGISTRY, Turn
from learner.agreement import clip_agreement
from learner.features import get_extractor, speaker_normalise
from learner.metrics import ccc, rank_correlation
from learner.raters import clip_label, rater_noise, rater_noise_each, settle_clip
from learner.regressors import make_regressor, predict_matrix
from learner.simulate import CremaVotes, CrowdSimulator, load_corpus
from learner.training import LabelledSet, RoundConfig, machine_label_bars, train_round

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
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


def principal_components(X: np.ndarray, n_components: int = 16) -> np.ndarray:
    """Every clip on the features' leading principal components (unsupervised), where
    the coverage diagnostics measure distances."""
    Z = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)
    return Z @ Vt[:n_components].T


# ----------------------------------------------------------------------------- splits
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


# ----------------------------------------------------------------------------- labels
@dataclass(frozen=True)
class RaterNoise:
    """Each rater's own noise per target (learner.raters.rater_noise_each) and the crowd's
    pooled noise it was measured against. No rater in `each` while unknown, and with
    plain-mean labels."""

    crowd: np.ndarray
    each: dict[str, np.ndarray]

    def of(self, names: list[str]) -> np.ndarray:
        """(len(names), n_targets): each rating's rater's noise, NaN where unmeasured."""
        unknown = np.full(len(self.crowd), np.nan)
        return np.array([self.each.get(name, unknown) for name in names]).reshape(
            len(names), len(self.crowd)
        )


class Labeller:
    """The labels one strategy holds, and the ratings it paid for.

    `known` holds ratings seen elsewhere (the development speakers'): they help tell
    reliable raters from unreliable ones. With `weighted`, a clip's label weights each
    rating by its rater's own noise, as the platform does (learner.raters.clip_label);
    otherwise it is the plain mean.
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
        self._rater_noise: tuple[tuple, RaterNoise | None] = ((), None)

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

    def rater_noise(self) -> RaterNoise:
        """Each rater's noise, from every rating this labeller and `known` have seen.
        Computed once per state of the ratings."""
        sources = [self] if self.known is None else [self, self.known]
        state = tuple(source.cost for source in sources)
        if self._rater_noise[0] != state:
            self._rater_noise = (state, self._estimate_rater_noise(sources))
        return self._rater_noise[1]

    def _estimate_rater_noise(self, sources: list["Labeller"]) -> RaterNoise:
        panels = [panel for source in sources for panel in source.ratings.values()]
        pooled = rater_noise(panels) if panels else np.full(len(self.targets), np.nan)
        rows = [
            (clip, name, values)
            for source in sources
            for clip, answers in source.ratings.items()
            for name, values in zip(source.who[clip], answers, strict=True)
        ]
        if not self.weighted or not rows or not np.all(np.isfinite(pooled)):
            return RaterNoise(pooled, {})
        names = sorted({name for _, name, _ in rows})
        index = {name: i for i, name in enumerate(names)}
        each = rater_noise_each(
            [clip for clip, _, _ in rows],
            [index[name] for _, name, _ in rows],
            np.array([values for _, _, values in rows]),
            pooled,
        )
        return RaterNoise(pooled, dict(zip(names, each, strict=True)))

    def label(self, clip: int, noise: RaterNoise) -> np.ndarray:
        """The clip's label: weighted by each rater's noise once it is known, else the
        plain mean (an unknown crowd noise and no reliability)."""
        answers = np.array(self.ratings[clip])
        if not noise.each:
            return clip_label(answers, crowd_noise=np.full(len(self.targets), np.nan))
        return clip_label(answers, crowd_noise=noise.crowd, rater_noise=noise.of(self.who[clip]))

    def ask_dynamic(
        self, clip: int, crowd_noise: np.ndarray, panel: int, noise: RaterNoise
    ) -> None:
        """Start with one rater; add raters as the platform settles a clip
        (learner.raters.settle_clip): while the clip's label is less certain than a
        `panel`-rater mean usually is, up to the maximum. Agreeing or reliable raters stop
        early, contested clips and unreliable raters get more."""
        most = min(MAX_RATERS, self.crowd.n_available(clip))
        self.ask(clip, 1)
        while (
            clip in self.ratings
            and settle_clip(
                np.array(self.ratings[clip]),
                scale_min=-1,
                scale_max=1,
                crowd_noise=crowd_noise,
                rater_noise=noise.of(self.who[clip]),
                ratings_wanted=1,
                panel=panel,
                max_raters=most,
                agreement_target=AGREEMENT_TARGET,
            ).needs_humans
        ):
            self.ask(clip, 1)

    def human_ids(self) -> np.ndarray:
        return np.array(sorted(self.ratings), dtype=int)

    def labelled_set(self, X: np.ndarray, groups: np.ndarray) -> LabelledSet:
        """Human labels and machine labels, as the platform trains."""
        human, machine = sorted(self.ratings), sorted(self.machine)
        noise = self.rater_noise()
        ids = np.array([*human, *machine], dtype=int)
        y = [self.label(i, noise) for i in human] + [self.machine[i] for i in machine]
        agreement = [
            panel_agreement(np.array(self.ratings[i])) if len(self.ratings[i]) > 1 else np.nan
            for i in human
        ] + [np.nan] * len(machine)
        return LabelledSet.build(
            clip_ids=ids,
            X=X[ids],
            y=np.array(y).reshape(ids.size, len(self.targets)),
            agreement=np.array(agreement),
            groups=groups[ids],
            human=np.arange(ids.size) < len(human),
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


# ----------------------------------------------------------------------------- rounds
@dataclass(frozen=True)
class Trained:
    """A round's model on the test speakers: predictions, and for the platform's round
    its bundle and how well its confidence ranks the real errors, per target; `model` is
    the regressor itself (scored on the development speakers, round_record)."""

    test_prediction: np.ndarray
    bundle: object = None
    confidence_rank: list[float] | None = None
    target_error: float = MACHINE_LABEL_TARGET_ERROR
    model: object = None


def train_platform_round(
    labeller: Labeller, X, gold, groups, split: Split, dev_set, config: RoundConfig, raters: int
) -> Trained:
    """The platform's round: regressor, confidence, threshold on development data. A
    machine label must be as good as the human label it replaces: a `raters`-rater mean
    of this crowd (learner.training.machine_label_bars)."""
    target_error, max_self_label_error = machine_label_bars(
        target_error=MACHINE_LABEL_TARGET_ERROR,
        max_self_label_error=MACHINE_LABEL_TARGET_ERROR,
        crowd_noise=labeller.noise(),
        panel=raters,
    )
    config = replace(config, target_error=target_error, max_self_label_error=max_self_label_error)
    bundle = train_round(labeller.labelled_set(X, groups), dev_set, config)
    test_scores = bundle.predict(X[split.test])
    # Does the calibrated confidence know where the model errs? Rank correlation of
    # expected and real absolute error on the test speakers, per target.
    test_error = np.abs(test_scores.values - gold[split.test])
    confidence_rank = [
        rank_correlation(test_scores.expected_error[:, t], test_error[:, t])
        for t in range(gold.shape[1])
    ]
    return Trained(test_scores.values, bundle, confidence_rank, config.target_error, bundle.model)


def train_plain_model(labeller: Labeller, X, groups, split: Split, regressor: str, seed: int):
    """A regressor on the labels held, machine labels weighing less."""
    data = labeller.labelled_set(X, groups)
    model = make_regressor(regressor, random_state=seed)
    model.fit(data.X, data.y, sample_weight=data.weight)
    return Trained(predict_matrix(model, X[split.test]), model=model)


def round_record(labeller: Labeller, gold, split: Split, trained: Trained, dev_set) -> dict:
    """What a round reports: test CCC per target against ratings spent, and the model's
    CCC per target on the development speakers' crowd labels (`dev_set`), the learning
    curve a stopping rule may read (never test gold)."""
    machine_ids = np.array(sorted(labeller.machine), dtype=int)
    machine_mae = None
    if machine_ids.size:
        machine = np.array([labeller.machine[i] for i in machine_ids])
        machine_mae = float(np.mean(np.abs(machine - gold[machine_ids])))
    pred = trained.test_prediction
    dev_pred, dev_ccc = predict_matrix(trained.model, dev_set.X), []
    for t in range(gold.shape[1]):
        rows = np.isfinite(dev_set.y[:, t])
        dev_ccc.append(ccc(dev_set.y[rows, t], dev_pred[rows, t]) if rows.sum() >= 3 else None)
    return {
        "cost": labeller.cost,
        "ccc": [ccc(gold[split.test, t], pred[:, t]) for t in range(gold.shape[1])],
        "dev_ccc": dev_ccc,
        "confidence_rank": trained.confidence_rank,
        "machine_labels": int(machine_ids.size),
        "machine_mae": machine_mae,
        "human_clips": len(labeller.ratings),
    }


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
    rule = REGISTRY[strategy]
    rng = np.random.default_rng(seed)
    panel = panel or raters  # dynamic raters: as certain as a mean of `panel` raters
    labeller = Labeller(crowd, targets, known=dev, weighted=dev.weighted)
    dev_set = dev.labelled_set(X, groups)
    for clip in split.seed_set:
        labeller.ask(int(clip), raters)
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
        if rule.cooperative:
            trained = train_platform_round(
                labeller, X, gold, groups, split, dev_set, config, raters
            )
        else:
            trained = train_plain_model(labeller, X, groups, split, regressor, seed)
        rounds.append(round_record(labeller, gold, split, trained, dev_set))
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
                if i not in labeller.ratings and (rule.cooperative or i not in labeller.machine)
            ],
            dtype=int,
        )
        if open_pool.size == 0:
            return rounds
        rule.act(
            Turn(
                labeller=labeller,
                X=X,
                open_pool=open_pool,
                budget=budget,
                raters=raters,
                panel=panel,
                max_raters=MAX_RATERS,
                rng=rng,
                seed=seed,
                selection=selection,
                bundle=trained.bundle,
                target_error=trained.target_error,
                gold=gold,
                layout=layout,
            )
        )


# ----------------------------------------------------------------------------- a corpus
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
    noise = everyone.rater_noise()
    unrated = np.full(len(targets), np.nan)
    gold = np.array(
        [
            everyone.label(clip, noise) if clip in everyone.ratings else unrated
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


_RUN: CorpusRun | None = None


def adopt(run: CorpusRun) -> None:
    """Make `run` the corpus this process's jobs work on (a worker's initializer)."""
    global _RUN
    _RUN = run


def run_job(seed: int, fold: int, name: str) -> dict:
    """One strategy (or "full" supervision) on one speaker split of the current corpus."""
    run, args = _RUN, _RUN.args
    speakers = run.corpus.speakers
    split = make_split(speakers, speaker_folds(speakers, args.folds, seed), fold, seed, 0.05)
    full_cost = args.raters * split.pool.size
    weighted = args.labels == "weighted"
    dev = development_ratings(run.crowd, run.targets, split.dev, args.raters, weighted=weighted)
    if name == "full":
        return full_supervision(run, split, dev, seed) | {"cost": full_cost}
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


def full_supervision(run: CorpusRun, split: Split, dev: Labeller, seed: int) -> dict:
    """Test CCC per target with every pool clip rated by `--raters` people ("fixed") and
    with the gold of all its raters ("all")."""
    args = run.args
    test_gold = run.gold[split.test]

    def test_ccc(model) -> list[float]:
        pred = predict_matrix(model, run.X[split.test])
        return [ccc(test_gold[:, t], pred[:, t]) for t in range(len(run.targets))]

    fixed = Labeller(run.crowd, run.targets, known=dev, weighted=dev.weighted)
    for clip in split.pool:
        fixed.ask(int(clip), args.raters)
    pool_set = fixed.labelled_set(run.X, run.corpus.speakers)
    everything = make_regressor(args.regressor, random_state=seed)
    every_rater = make_regressor(args.regressor, random_state=seed)
    return {
        "fixed": test_ccc(everything.fit(pool_set.X, pool_set.y)),
        "all": test_ccc(every_rater.fit(run.X[split.pool], run.gold[split.pool])),
    }
