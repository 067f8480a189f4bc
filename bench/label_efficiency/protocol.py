"""The protocol: speaker splits, the labeller that pays for ratings, and the rounds.

A run holds one corpus (features, crowd, gold; `prepare_corpus`); a job is one strategy,
or full supervision, on one speaker split (`run_job`); `run_once` is the round loop of
one strategy (train, evaluate on the test speakers, spend the round's ratings as the
strategy decides, bench.label_efficiency.strategies).

Priors (`--prior CORPUS_DIR`): a ridge on other corpora's gold, each corpus's features
standardised within that corpus or within each speaker (learner.prior), frozen and
learnt with (`split_prior`). The corpus under test given as its own prior lends the gold
of a fold's worth of its speakers, drawn per split outside the test and development
speakers and taken out of the pool of every strategy and of full supervision
(`Split.prior`), so that cold and warm strategies compare on the same splits.
"""

import argparse
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bench.label_efficiency.strategies import REGISTRY, Turn, prior_seed_set
from learner.agreement import clip_agreement
from learner.features import corpus_normalise, get_extractor, speaker_normalise
from learner.metrics import ccc, rank_correlation
from learner.prior import (
    PLATFORM_MODES,
    PRIOR_NORMALISATIONS,
    FrozenPrior,
    frozen_prior,
    with_prior,
)
from learner.raters import clip_label, rater_noise, rater_noise_each, settle_clip
from learner.regressors import make_regressor, predict_matrix
from learner.simulate import CremaVotes, CrowdSimulator, load_corpus
from learner.training import (
    LabelledSet,
    RoundConfig,
    TrainedBundle,
    dev_score,
    machine_label_bars,
    train_candidate,
    train_round,
)

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


# How `--normalise` scales a corpus's features before any model sees them: as extracted
# (a new project's default), within each speaker, or over the whole corpus.
NORMALISATIONS = ("none", "speaker", "corpus")


def normalised(X: np.ndarray, speakers: np.ndarray, how: str) -> np.ndarray:
    """`X` on the scale `how` (one of NORMALISATIONS)."""
    if how == "speaker":
        return speaker_normalise(X, speakers)
    if how == "corpus":
        return corpus_normalise(X)
    if how == "none":
        return X
    raise ValueError(f"unknown normalisation {how!r}; known: {', '.join(NORMALISATIONS)}")


def principal_components(X: np.ndarray, n_components: int = 16) -> np.ndarray:
    """Every clip on the features' leading principal components (unsupervised), where
    the coverage diagnostics measure distances."""
    Z = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)
    return Z @ Vt[:n_components].T


# ----------------------------------------------------------------------------- splits
@dataclass
class Split:
    """Clip indices: test, development and pool speakers, the pool's labelled seed set,
    and the speakers lent to a prior from the corpus itself (none without one)."""

    test: np.ndarray
    dev: np.ndarray
    pool: np.ndarray
    seed_set: np.ndarray
    prior: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


def speaker_folds(speakers: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    unique = np.random.default_rng(seed).permutation(np.unique(speakers.astype(str)))
    return [np.isin(speakers.astype(str), group) for group in np.array_split(unique, n_folds)]


def make_split(
    speakers: np.ndarray,
    folds: list[np.ndarray],
    fold: int,
    seed: int,
    seed_share: float,
    *,
    prior_speakers: int = 0,
) -> Split:
    """Test speakers `folds[fold]`, development the next fold, the rest the pool; with
    `prior_speakers`, that many of the pool's speakers (drawn per seed and fold, at least
    one speaker left in the pool) go to a prior instead (`Split.prior`)."""
    test = folds[fold]
    dev = folds[(fold + 1) % len(folds)]
    lent = np.zeros(len(speakers), dtype=bool)
    if prior_speakers:
        names = speakers.astype(str)
        rest = np.unique(names[~test & ~dev])
        if rest.size < 2:
            raise ValueError(f"{rest.size} pool speakers: none to spare for a prior")
        drawn = np.random.default_rng(2000 + 100 * seed + fold).choice(
            rest, size=min(prior_speakers, rest.size - 1), replace=False
        )
        lent = np.isin(names, drawn)
    pool = np.flatnonzero(~test & ~dev & ~lent)
    rng = np.random.default_rng(1000 + seed)
    n_seed = max(10, round(seed_share * pool.size))
    return Split(
        np.flatnonzero(test),
        np.flatnonzero(dev),
        pool,
        rng.choice(pool, size=n_seed, replace=False),
        np.flatnonzero(lent),
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


def train_plain_model(
    labeller: Labeller,
    X,
    groups,
    split: Split,
    regressor: str,
    seed: int,
    prior: FrozenPrior | None = None,
    prior_mode: str = "residual",
):
    """A regressor on the labels held, machine labels weighing less; with `prior`,
    learning together with it (learner.prior.with_prior)."""
    data = labeller.labelled_set(X, groups)
    model = make_regressor(regressor, random_state=seed)
    if prior is not None:
        model = with_prior(model, prior, prior_mode)
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
        # The order the round's platform model gives the human queue (cooperative only).
        "queue_order": None if trained.bundle is None else str(trained.bundle.queue_order),
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
    selection: str = "auto",
    panel: int | None = None,
    layout: np.ndarray | None = None,
    prior: "SplitPrior | None" = None,
    cold_view: str = "cold",
    prior_modes: tuple[str, ...] = PLATFORM_MODES,
) -> list[dict]:
    """Rounds of one strategy on one split: test CCC per target against ratings spent.

    A prior strategy (`prior` given) picks its seed set with the prior alone
    (strategies.prior_seed_set), and each round trains on the view chosen as the
    platform chooses (`choose_view`: the cold view `cold_view`, the features as given,
    or one of the prior's views, on the prior's feature scale learning with it in each
    of `prior_modes`, learner.prior.PLATFORM_MODES by default); its first round
    also records the prior's own CCC (`prior_ccc`, `prior_dev_ccc`: zero labels)."""
    rule = REGISTRY[strategy]
    if rule.prior and prior is None:
        raise ValueError(f"{strategy} needs a prior (--prior)")
    rng = np.random.default_rng(seed)
    panel = panel or raters  # dynamic raters: as certain as a mean of `panel` raters
    labeller = Labeller(crowd, targets, known=dev, weighted=dev.weighted)
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
    views = {cold_view: (X, config)}
    if rule.prior:
        for mode in prior_modes:
            views[prior.view(mode)] = (
                prior.X,
                replace(config, prior=prior.frozen, prior_mode=mode),
            )
    dev_sets = {name: dev.labelled_set(view_X, groups) for name, (view_X, _) in views.items()}
    seed_set = split.seed_set
    if rule.prior and rule.cooperative:
        seed_set = prior_seed_set(prior.bundle, prior.X, split.pool, seed_set.size, raters)
    for clip in seed_set:
        labeller.ask(int(clip), raters)
    rounds = []
    while True:
        view, view_scores = cold_view, None
        if rule.prior:
            view, view_scores = choose_view(labeller, views, dev_sets, groups)
        view_X, view_config = views[view]
        if rule.cooperative:
            trained = train_platform_round(
                labeller, view_X, gold, groups, split, dev_sets[view], view_config, raters
            )
        else:
            trained = train_plain_model(
                labeller,
                view_X,
                groups,
                split,
                regressor,
                seed,
                prior=view_config.prior,
                prior_mode=view_config.prior_mode,
            )
        rounds.append(round_record(labeller, gold, split, trained, dev_sets[view]))
        if rule.prior:
            rounds[-1] |= {
                "view": view,
                "prior_kept": view != cold_view,
                "view_dev_ccc": view_scores,
            }
            if len(rounds) == 1:
                rounds[-1] |= prior.zero_shot(gold, split, dev_sets[prior.view(prior_modes[0])])
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
                X=view_X,
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


def choose_view(
    labeller: Labeller, views: dict, dev_sets: dict[str, LabelledSet], groups
) -> tuple[str, dict[str, float | None]]:
    """The view of the labels held that a plain regressor learns best from, as the
    platform keeps or drops a prior (learner.training.choose_on_dev's rule and scorer,
    dev_score: fitted on the labels held, mean CCC over targets on the development
    speakers' human labels; the first view listed, the cold one, wins ties and when none
    can be scored). The development speakers are the protocol's (`dev_sets`), those the
    platform's round already calibrates on, rather than a hashed quarter of the labels.
    Returns the view's name and every view's score (None: not scorable)."""
    scores = {
        name: dev_score(labeller.labelled_set(view_X, groups), dev_sets[name], view_config)
        for name, (view_X, view_config) in views.items()
    }
    finite = {name: score for name, score in scores.items() if np.isfinite(score)}
    chosen = max(finite, key=lambda name: finite[name]) if finite else next(iter(views))
    return chosen, {name: (score if np.isfinite(score) else None) for name, score in scores.items()}


# ----------------------------------------------------------------------------- priors
@dataclass(frozen=True)
class PriorCorpus:
    """Another corpus a prior learns from: its features standardised per normalisation
    (learner.prior.PRIOR_NORMALISATIONS: within the corpus, within each speaker), its
    gold of the targets under test and its speakers."""

    name: str
    views: dict[str, np.ndarray]
    gold: np.ndarray
    speakers: np.ndarray


def prior_views(X: np.ndarray, speakers: np.ndarray) -> dict[str, np.ndarray]:
    """One corpus's raw features on each of a prior's scales."""
    return {"corpus": corpus_normalise(X), "speaker": speaker_normalise(X, speakers)}


def prior_corpus(corpus_dir: Path, targets: list[str], extractor: str) -> PriorCorpus:
    """A corpus folder as prior data. Raises ValueError when it lacks a target's gold."""
    corpus = load_corpus(corpus_dir)
    missing = [t for t in targets if t not in corpus.targets]
    if missing:
        raise ValueError(f"{corpus_dir}: no gold {', '.join(missing)} for a prior")
    X = corpus_features(corpus, extractor)
    return PriorCorpus(
        name=corpus.root.name,
        views=prior_views(X, corpus.speakers),
        gold=corpus.gold[:, [corpus.targets.index(t) for t in targets]],
        speakers=corpus.speakers.astype(str),
    )


@dataclass(frozen=True)
class SplitPrior:
    """The prior of one split: the scale it was learnt on (`normalisation`), the corpus
    under test on that scale (`X`), the prior as a zero-shot bundle (regressor and
    confidence trained as the platform trains a prior, learner.training.train_candidate;
    self-label threshold 0: its confidence was calibrated on other recordings), the
    regressor frozen for warm starts (with its training clips, for pooling), the
    zero-shot development CCC of every scale tried (the choice of scale), and the clips
    of the corpus under test it learnt from."""

    normalisation: str
    X: np.ndarray
    bundle: TrainedBundle
    frozen: FrozenPrior
    scale_dev_ccc: dict[str, float]
    own_clips: np.ndarray

    def view(self, mode: str) -> str:
        """The name of its view learning in `mode`, as the platform names it."""
        return f"{self.normalisation}+prior:{mode}"

    def zero_shot(self, gold: np.ndarray, split: Split, dev_set: LabelledSet) -> dict:
        """The prior alone, before any label: test CCC per target, development CCC."""
        test = self.frozen.predict(self.X[split.test])
        return {
            "prior_ccc": [ccc(gold[split.test, t], test[:, t]) for t in range(gold.shape[1])],
            "prior_dev_ccc": mean_dev_ccc_each(self.frozen, dev_set),
            "prior_normalisation": self.normalisation,
            "prior_scale_dev_ccc": self.scale_dev_ccc,
        }


def mean_dev_ccc_each(model, dev_set: LabelledSet) -> list[float | None]:
    """CCC per target of `model` on a labelled set's finite labels (None under 3)."""
    pred = predict_matrix(model, dev_set.X)
    out = []
    for t in range(dev_set.y.shape[1]):
        rows = np.isfinite(dev_set.y[:, t])
        out.append(ccc(dev_set.y[rows, t], pred[rows, t]) if rows.sum() >= 3 else None)
    return out


def prior_data(run: "CorpusRun", split: Split, normalisation: str) -> LabelledSet:
    """What the split's prior learns from on one scale: every other prior corpus's gold,
    and the gold of the corpus's own lent speakers (`split.prior`), nothing else of the
    corpus under test."""
    X, y, groups = [], [], []
    for other in run.priors:
        X.append(other.views[normalisation])
        y.append(other.gold)
        groups.extend(f"{other.name}/{speaker}" for speaker in other.speakers)
    if split.prior.size:
        X.append(run.views[normalisation][split.prior])
        y.append(run.gold[split.prior])
        groups.extend(run.corpus.speakers[split.prior].astype(str))
    n = sum(len(part) for part in X)
    return LabelledSet.build(
        clip_ids=np.arange(n),
        X=np.vstack(X).astype(np.float32),
        y=np.vstack(y),
        agreement=np.full(n, np.nan),
        groups=np.array(groups, dtype=object),
        human=np.ones(n, dtype=bool),
    )


def split_prior(run: "CorpusRun", split: Split, dev: Labeller, seed: int) -> SplitPrior:
    """The split's prior. Its scale (`--prior-normalisation`; auto: whichever scale's
    ridge, fitted on all the prior data, scores the higher mean CCC on the corpus under
    test's development speakers: labels the protocol gives every strategy, never test
    gold), then its bundle on that scale."""
    args = run.args
    scales = (
        PRIOR_NORMALISATIONS if args.prior_normalisation == "auto" else (args.prior_normalisation,)
    )
    data = {scale: prior_data(run, split, scale) for scale in scales}
    scale_dev_ccc = {}
    for scale in scales:
        model = make_regressor(args.regressor, random_state=seed).fit(data[scale].X, data[scale].y)
        dev_ccc = mean_dev_ccc_each(model, dev.labelled_set(run.views[scale], run.corpus.speakers))
        scale_dev_ccc[scale] = float(np.mean([v for v in dev_ccc if v is not None] or [0.0]))
    chosen = max(scale_dev_ccc, key=lambda scale: scale_dev_ccc[scale])
    config = RoundConfig(
        targets=tuple(run.targets),
        extractor_key="bench",
        regressor=args.regressor,
        n_folds=3,
        n_error_engines=3,
        random_state=seed,
        feature_normalisation=chosen,
    )
    bundle = train_candidate(data[chosen], config, dev_seed=seed).bundle
    return SplitPrior(
        normalisation=chosen,
        X=run.views[chosen],
        bundle=replace(bundle, self_label_threshold=0.0),
        frozen=frozen_prior(
            bundle.model, run.targets, run.targets, X=data[chosen].X, y=data[chosen].y
        ),
        scale_dev_ccc=scale_dev_ccc,
        own_clips=split.prior,
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
    # With --prior: the other corpora a prior learns from, whether the corpus lends its
    # own speakers too, and its clips on each of a prior's scales.
    priors: list[PriorCorpus] = field(default_factory=list)
    own_prior: bool = False
    views: dict[str, np.ndarray] = field(default_factory=dict)


def prepare_corpus(corpus_dir: Path, args) -> CorpusRun:
    """Load a corpus, its cached features and its crowd (replayed or simulated)."""
    corpus = load_corpus(corpus_dir)
    X = normalised(corpus_features(corpus, args.extractor), corpus.speakers, args.normalise)
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
    run = CorpusRun(corpus, X, crowd, targets, gold, args, principal_components(X))
    prior_dirs = getattr(args, "prior", None) or []
    if prior_dirs:
        itself = Path(corpus_dir).resolve()
        run.own_prior = any(Path(d).resolve() == itself for d in prior_dirs)
        run.priors = [
            prior_corpus(Path(d), targets, args.extractor)
            for d in prior_dirs
            if Path(d).resolve() != itself
        ]
        run.views = prior_views(corpus_features(corpus, args.extractor), corpus.speakers)
    return run


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


def job_split(run: CorpusRun, seed: int, fold: int) -> Split:
    """The speaker split of (seed, fold), the same for every strategy and full
    supervision; with the corpus as its own prior, a fold's worth of its speakers lent
    to the prior (make_split's `prior_speakers`)."""
    speakers = run.corpus.speakers
    lent = 0
    if run.own_prior:
        lent = max(1, round(np.unique(speakers.astype(str)).size / run.args.folds))
    folds = speaker_folds(speakers, run.args.folds, seed)
    return make_split(speakers, folds, fold, seed, 0.05, prior_speakers=lent)


def run_job(seed: int, fold: int, name: str) -> dict:
    """One strategy (or "full" supervision) on one speaker split of the current corpus."""
    run, args = _RUN, _RUN.args
    speakers = run.corpus.speakers
    split = job_split(run, seed, fold)
    full_cost = args.raters * split.pool.size
    weighted = args.labels == "weighted"
    dev = development_ratings(run.crowd, run.targets, split.dev, args.raters, weighted=weighted)
    if name == "full":
        return full_supervision(run, split, dev, seed) | {"cost": full_cost}
    prior = split_prior(run, split, dev, seed) if REGISTRY[name].prior else None
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
            prior=prior,
            cold_view=args.normalise,
            prior_modes=tuple(args.prior_modes),
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
