"""One round of the cooperative loop, as pure functions: train, calibrate, score.

`train_round` fits the main regressor on the training clips, its confidence engines on
out-of-fold errors, and calibrates them on the held-out development clips (human
labels only); `TrainedBundle.predict` then gives, per clip and target, a prediction
and a calibrated expected absolute error in label units. `TrainedBundle.refit` deploys
the model refitted on the development clips too, keeping the held-out fit to compare
versions with.
"""

import copy
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from numpy.typing import ArrayLike, NDArray

from learner.confidence import ConfidenceModel
from learner.cooperative import (
    MAE_PER_SD,
    QueueOrder,
    choose_queue_order,
    choose_self_label_threshold,
    denoised_mae,
)
from learner.metrics import ccc, rank_correlation
from learner.prior import POOLED_WEIGHT, with_prior
from learner.raters import human_label_error
from learner.regressors import make_regressor, predict_matrix

BUNDLE_FORMAT = 1
# Feature matrices come as float32 (stored) or float64.
Features = NDArray[np.floating[Any]]
# Machine labels count for less than human ones when the regressors are retrained.
MACHINE_LABEL_WEIGHT = 0.5
# Not worse: a new model is kept out only when, on the same development clips, even the
# optimistic end of its bootstrap interval trails the active model by more than this
# mean CCC (or, across feature sets, its plain dev CCC does).
PROMOTION_TOLERANCE = 0.01


@dataclass(frozen=True)
class LabelledSet:
    """Clips with labels: features X (n, d), labels y (n, t) with NaN where missing.

    `agreement` is the raters' agreement per clip (NaN unknown), `groups` the speaker
    (for speaker-independent splits), `weight` a sample weight and `human` whether the
    label came from people (only those calibrate confidence). `label_error` (n, t) is
    each human label's standard error, NaN where unknown; None: labels taken as exact
    (a corpus's gold). It lets a round tell the model's errors from the labels' own.
    """

    clip_ids: NDArray[np.int64]
    X: Features
    y: NDArray[np.float64]
    agreement: NDArray[np.float64]
    groups: NDArray[np.object_]
    weight: NDArray[np.float64]
    human: NDArray[np.bool_]
    label_error: NDArray[np.float64] | None = None

    @classmethod
    def build(
        cls,
        *,
        clip_ids: ArrayLike,
        X: Features,
        y: ArrayLike,
        agreement: ArrayLike,
        groups: ArrayLike,
        human: ArrayLike,
    ) -> "LabelledSet":
        """A labelled set whose machine labels weigh `MACHINE_LABEL_WEIGHT` of a human's."""
        human = np.asarray(human, dtype=bool)
        return cls(
            clip_ids=np.asarray(clip_ids, dtype=np.int64),
            X=X,
            y=np.asarray(y, dtype=np.float64),
            agreement=np.asarray(agreement, dtype=np.float64),
            groups=np.asarray(groups, dtype=object),
            weight=np.where(human, 1.0, MACHINE_LABEL_WEIGHT),
            human=human,
        )

    @classmethod
    def of_human_labels(
        cls, X: Features, y: ArrayLike, groups: ArrayLike, agreement: ArrayLike | None = None
    ) -> "LabelledSet":
        """Clips numbered 0..n-1, every label from people (agreement unknown unless
        given): a corpus's gold, or a benchmark's labelled clips."""
        return cls.build(
            clip_ids=np.arange(len(X)),
            X=X,
            y=y,
            agreement=np.full(len(X), np.nan) if agreement is None else agreement,
            groups=groups,
            human=np.ones(len(X), dtype=bool),
        )

    def subset(self, mask: NDArray[np.bool_]) -> "LabelledSet":
        return LabelledSet(
            clip_ids=self.clip_ids[mask],
            X=self.X[mask],
            y=self.y[mask],
            agreement=self.agreement[mask],
            groups=self.groups[mask],
            weight=self.weight[mask],
            human=self.human[mask],
            label_error=None if self.label_error is None else self.label_error[mask],
        )

    def __len__(self) -> int:
        return len(self.clip_ids)


@dataclass(frozen=True)
class RoundConfig:
    targets: tuple[str, ...]
    extractor_key: str
    regressor: str = "linear"
    n_folds: int = 5
    n_error_engines: int = 5
    target_error: float = 0.2
    max_self_label_error: float = 0.15
    random_state: int = 0
    # The confidence engines' inputs: the features' leading principal components (None: all).
    confidence_components: int | None = 16
    # How the features were scaled before they got here ("speaker", "corpus" or "none");
    # the bundle remembers it so that clips are scored on the same scale.
    feature_normalisation: str = "none"
    # A prior (learner.prior.FrozenPrior) the regressor learns together with, as
    # `prior_mode` says (learner.prior.PRIOR_MODES); None: a cold model.
    prior: Any = None
    prior_mode: str = "residual"
    prior_weight: float = POOLED_WEIGHT  # of each prior clip, when pooled
    # The crowd's noise per target (SD of one rating, NaN unknown): with it, machine
    # labels must on average be as good as a `rater_panel`-rater human label of this
    # crowd, on each target (`self_label_bars`). None: only the two error bars count.
    crowd_noise: tuple[float, ...] | None = None
    rater_panel: int = 3
    # Choose the self-label threshold on expected errors cross-fitted on development
    # speakers (`cross_fitted_expected_error`); False: on the clips the confidence was
    # calibrated on, as before (optimistic: kept to measure the difference).
    self_label_cross_fit: bool = True


@dataclass(frozen=True)
class BundleScores:
    """Per clip and target: prediction and calibrated expected absolute error; per clip:
    predicted rater agreement (0..1)."""

    values: NDArray[np.float64]
    expected_error: NDArray[np.float64]
    agreement: NDArray[np.float64]


@dataclass
class TrainedBundle:
    """Everything one round produced, saved and loaded as one file."""

    targets: tuple[str, ...]
    extractor_key: str
    model: Any
    confidence: ConfidenceModel
    self_label_threshold: float
    report: dict[str, Any] = field(default_factory=dict)
    # The model as fitted without the development clips, kept after a refit so that the
    # next version is compared with it on clips neither has seen.
    holdout_model: Any | None = None
    feature_normalisation: str = "none"

    @property
    def queue_order(self) -> QueueOrder:
        """How the clips it does not self-label are ordered for people (bundles from
        before the choice: by uncertainty)."""
        return QueueOrder(self.report.get("queue_order", {}).get("order", QueueOrder.UNCERTAINTY))

    @property
    def comparable_model(self) -> Any:
        return self.holdout_model if self.holdout_model is not None else self.model

    def refit(self, data: "LabelledSet", config: "RoundConfig") -> "TrainedBundle":
        """The same bundle with its model refitted on `data` (typically training plus
        development clips). Confidence and threshold stay those calibrated on held-out
        clips: a model fitted on more clips errs no more, so they stay conservative.
        Machine labels are left out when the round found they did not help."""
        if not self.report.get("machine_labels_used", True):
            data = data.subset(data.human)
        model = _fit_regressor(data, config)
        return replace(
            self,
            model=model,
            holdout_model=self.comparable_model,
            report={**self.report, "refit_clips": len(data)},
        )

    def predict(self, X: Features) -> BundleScores:
        X = np.asarray(X, dtype=np.float64)  # once: each estimator would copy float32 rows
        values = predict_matrix(self.model, X)
        expected_error, agreement = self.confidence.predict(X, values)
        return BundleScores(values=values, expected_error=expected_error, agreement=agreement)

    def evaluate(
        self, X: Features, y: NDArray[np.float64], *, holdout: bool = False
    ) -> dict[str, float | None]:
        """CCC per target on the clips where that target is labelled (`holdout`: of the
        model fitted without the development clips)."""
        model = self.comparable_model if holdout else self.model
        predicted = predict_matrix(model, X)
        return {
            target: _masked_ccc(y[:, t], predicted[:, t]) for t, target in enumerate(self.targets)
        }

    def save(self, path: Path) -> str:
        """Write atomically (temporary file, then rename); returns the file's sha256."""
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            meta = {
                "format": BUNDLE_FORMAT,
                "targets": list(self.targets),
                "extractor_key": self.extractor_key,
                "feature_normalisation": self.feature_normalisation,
                "self_label_threshold": self.self_label_threshold,
                "report": self.report,
            }
            archive.writestr("meta.json", json.dumps(meta))
            parts = [("model", self.model), ("confidence", self.confidence)]
            if self.holdout_model is not None:
                parts.append(("holdout", self.holdout_model))
            for name, obj in parts:
                part = io.BytesIO()
                joblib.dump(obj, part)
                archive.writestr(f"{name}.joblib", part.getvalue())
        data = buffer.getvalue()
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: Path) -> "TrainedBundle":
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("meta.json"))
            if meta.get("format") != BUNDLE_FORMAT:
                raise ValueError(
                    f"{path}: bundle format {meta.get('format')} is not {BUNDLE_FORMAT}"
                )
            model = joblib.load(io.BytesIO(archive.read("model.joblib")))
            confidence = joblib.load(io.BytesIO(archive.read("confidence.joblib")))
            holdout = (
                joblib.load(io.BytesIO(archive.read("holdout.joblib")))
                if "holdout.joblib" in archive.namelist()
                else None
            )
        return cls(
            targets=tuple(meta["targets"]),
            extractor_key=meta["extractor_key"],
            model=model,
            confidence=confidence,
            self_label_threshold=float(meta["self_label_threshold"]),
            report=meta["report"],
            holdout_model=holdout,
            feature_normalisation=meta.get("feature_normalisation", "none"),
        )


def _masked_ccc(y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float | None:
    mask = ~np.isnan(y_true)
    if mask.sum() < 3:
        return None
    return ccc(y_true[mask], y_pred[mask])


def _make_regressor(config: RoundConfig) -> Any:
    model = make_regressor(config.regressor, random_state=config.random_state)
    if config.prior is None:
        return model
    return with_prior(model, config.prior, config.prior_mode, weight=config.prior_weight)


def _fit_regressor(data: LabelledSet, config: RoundConfig) -> Any:
    return _make_regressor(config).fit(data.X, data.y, sample_weight=data.weight)


def _mean_dev_ccc(model: Any, dev: LabelledSet) -> float:
    predicted = predict_matrix(model, dev.X)
    scores = [_masked_ccc(dev.y[:, t], predicted[:, t]) for t in range(dev.y.shape[1])]
    return float(np.mean([s for s in scores if s is not None] or [0.0]))


def compare_on_dev(
    new: "TrainedBundle",
    old: "TrainedBundle",
    X: Features,
    y: NDArray[np.float64],
    *,
    old_X: Features | None = None,
    n_boot: int = 500,
    random_state: int = 0,
) -> dict[str, float]:
    """Paired bootstrap over development clips of new minus old mean-over-targets CCC.

    Each side is the model fitted without the development clips (`comparable_model`);
    `old_X` is the same clips' features as the old model sees them, where its feature
    normalisation differs (default `X`). Returns the observed difference and its 90 %
    interval (`low`, `high`). Small development sets are noisy: a model is clearly worse
    only when `high` is below 0.
    """
    old_X = X if old_X is None else old_X
    new_pred = predict_matrix(new.comparable_model, X)
    old_pred = predict_matrix(old.comparable_model, old_X)
    observed, diffs = _paired_bootstrap(y, old_pred, new_pred, n_boot=n_boot, seed=random_state)
    low, high = np.percentile(diffs, [5, 95])
    return {"diff": observed, "low": float(low), "high": float(high)}


def _paired_bootstrap(
    y: NDArray[np.float64],
    base_pred: NDArray[np.float64],
    other_pred: NDArray[np.float64],
    *,
    n_boot: int,
    seed: int,
) -> tuple[float, list[float]]:
    """`other_pred`'s mean CCC over targets minus `base_pred`'s on all rows of `y`, and
    on `n_boot` bootstrap resamples of the same rows for both (paired)."""
    rng = np.random.default_rng(seed)

    def gain(rows: NDArray[np.integer[Any]]) -> float:
        scores = [
            (_masked_ccc(y[rows, t], other_pred[rows, t]) or 0.0)
            - (_masked_ccc(y[rows, t], base_pred[rows, t]) or 0.0)
            for t in range(y.shape[1])
        ]
        return float(np.mean(scores))

    gains = [gain(rng.integers(0, len(y), len(y))) for _ in range(n_boot)]
    return gain(np.arange(len(y))), gains


def speaker_split(
    groups: NDArray[Any], *, dev_fraction: float, random_state: int
) -> NDArray[np.bool_]:
    """A development mask holding about `dev_fraction` of the clips, whole speakers only.

    Speakers are ranked by a hash of (random_state, speaker), so the same seed keeps the
    same speakers in development as the labelled pool grows. With fewer than three
    speakers, falls back to a random clip-level split.
    """
    names = groups.astype(str)
    unique = np.unique(names)
    if unique.size < 3:
        rng = np.random.default_rng(random_state)
        mask = np.zeros(len(groups), dtype=bool)
        mask[rng.permutation(len(groups))[: max(1, round(dev_fraction * len(groups)))]] = True
        return mask

    def rank(speaker: str) -> bytes:
        return hashlib.sha256(f"{random_state}:{speaker}".encode()).digest()

    counts = dict(zip(*np.unique(names, return_counts=True), strict=True))
    chosen, total = [], 0
    for speaker in sorted(unique, key=rank):
        if total >= dev_fraction * len(groups):
            break
        chosen.append(speaker)
        total += counts[speaker]
    return np.isin(names, chosen)


def development_halves(groups: NDArray[Any], *, random_state: int) -> list[NDArray[np.bool_]]:
    """The two sides of development clips held out from each other: half of the
    development speakers and the rest (`speaker_split` at one half; of the clips, with
    fewer than three speakers). Each side is predicted by what was calibrated on the
    other, for the confidence's rank (`confidence_rank_on_held_out_speakers`) and the
    self-label threshold (`cross_fitted_expected_error`)."""
    half = speaker_split(groups, dev_fraction=0.5, random_state=random_state)
    return [half, ~half]


def confidence_rank_on_held_out_speakers(
    confidence: ConfidenceModel,
    signals: NDArray[np.float64],
    error: NDArray[np.float64],
    groups: NDArray[Any],
    *,
    random_state: int,
) -> list[float | None]:
    """Per target, how well the confidence ranks the real errors of development clips it
    was not calibrated on (`signals` and absolute `error` of those clips, their speakers
    `groups`): calibrated on half of the development speakers (of the clips,
    with fewer than three speakers), Spearman's correlation on the other half, both ways,
    averaged. None with fewer than 10 clips a side. Near 0, machine labels and the human
    queue's order are close to a random draw."""
    ranks: list[list[float]] = [[] for _ in range(error.shape[1])]
    for held in development_halves(groups, random_state=random_state):
        if held.sum() < 10 or (~held).sum() < 10:
            continue
        trial = copy.copy(confidence).calibrate_signals(signals[~held], error[~held])
        expected = trial.expected_error(signals[held])
        for t, per_target in enumerate(ranks):
            rows = ~np.isnan(error[held, t])
            if rows.sum() >= 10:
                value = rank_correlation(expected[rows, t], error[held][rows, t])
                per_target.extend([value] if np.isfinite(value) else [])
    return [float(np.mean(r)) if r else None for r in ranks]


# Each side of a cross-fit calibrates the confidence on at least this many clips and is
# predicted as a whole; with fewer development clips the threshold is chosen in-sample.
CROSS_FIT_MIN_CLIPS = 5


def cross_fitted_expected_error(
    confidence: ConfidenceModel,
    signals: NDArray[np.float64],
    error: NDArray[np.float64],
    groups: NDArray[Any],
    *,
    label_error: NDArray[np.float64] | None = None,
    random_state: int,
    min_clips: int = CROSS_FIT_MIN_CLIPS,
) -> tuple[NDArray[np.float64] | None, str | None]:
    """Out-of-fold expected errors (n, n_targets) of development clips (`signals`,
    absolute `error`, speakers `groups`, labels' standard error `label_error`): each side
    of `development_halves` scored by the confidence calibrated on the other side only.
    A threshold chosen on these is not flattered by a calibration that has seen the very
    errors it is checked against. Also says how the sides were held out ("speakers" or,
    with fewer than three development speakers, "clips"); (None, None) when a side
    would have fewer than `min_clips` clips."""
    halves = development_halves(groups, random_state=random_state)
    if min(int(side.sum()) for side in halves) < min_clips:
        return None, None
    expected = np.full(error.shape, np.nan)
    for held in halves:
        noise = None if label_error is None else label_error[~held]
        trial = copy.copy(confidence).calibrate_signals(signals[~held], error[~held], noise)
        expected[held] = trial.expected_error(signals[held])
    by = "speakers" if np.unique(groups.astype(str)).size >= 3 else "clips"
    return expected, by


def train_round(train: LabelledSet, dev: LabelledSet, config: RoundConfig) -> TrainedBundle:
    """Fit the regressor and its confidence; pick the self-label threshold on dev.

    Raises ValueError naming what is missing when there are too few labels.
    """
    human_dev = dev.subset(dev.human)
    if len(train) < 10 or len(human_dev) < 5:
        raise ValueError(
            f"too few labelled clips to train: {len(train)} for training (need 10) and "
            f"{len(human_dev)} human-labelled for development (need 5)"
        )
    model = _fit_regressor(train, config)
    machine_labels_used = bool((~train.human).any())
    human_train = train.subset(train.human)
    if machine_labels_used and len(human_train) >= 10:
        # Machine labels add clips but shrink the labels' spread toward the old model:
        # keep them only when they help on human development labels.
        human_only = _fit_regressor(human_train, config)
        if _mean_dev_ccc(human_only, human_dev) > _mean_dev_ccc(model, human_dev):
            model, machine_labels_used = human_only, False
    # A model's errors on its own past predictions say nothing: learn them from people.
    error_source = human_train if len(human_train) >= 10 else train
    confidence = ConfidenceModel(
        regressor=_make_regressor(config),
        n_folds=config.n_folds,
        n_error_engines=config.n_error_engines,
        n_components=config.confidence_components,
        random_state=config.random_state,
    ).fit(error_source.X, error_source.y, agreement=error_source.agreement)
    dev_pred = predict_matrix(model, human_dev.X)
    dev_error = np.abs(dev_pred - human_dev.y)
    dev_signals = confidence.signals(human_dev.X, dev_pred)
    label_error = human_dev.label_error
    # The threshold is chosen on expected errors from a confidence that has not seen the
    # clip's error (cross-fitted on development speakers): chosen on the clips the
    # confidence was calibrated on, the clips it calls sure are those whose errors
    # happened to be small there, and the machine labels err more than the round says.
    cross_fitted, checked_on = (
        cross_fitted_expected_error(
            confidence,
            dev_signals,
            dev_error,
            human_dev.groups,
            label_error=label_error,
            random_state=config.random_state,
        )
        if config.self_label_cross_fit
        else (None, None)
    )
    # The deployed confidence: calibrated on every development clip (the same ranking).
    dev_expected = confidence.calibrate_signals(
        dev_signals, dev_error, label_error=label_error
    ).expected_error(dev_signals)
    oof_expected = dev_expected if cross_fitted is None else cross_fitted
    worst_expected = np.nanmax(oof_expected, axis=1)
    human_bar = human_label_bars(config.crowd_noise, config.rater_panel, len(config.targets))
    bar = np.fmin(config.target_error, human_bar)
    choice = {
        "expected_error": worst_expected,
        "real_error": dev_error,
        "target_error": bar,
        "label_error": label_error,
    }
    threshold = choose_self_label_threshold(**choice, max_threshold=config.max_self_label_error)
    uncapped = choose_self_label_threshold(**choice)
    confident = worst_expected <= threshold
    # The pool is scored by the deployed confidence, whose scale differs from the
    # cross-fitted ones: carry the choice over as the share of development clips it labels.
    deployed = (
        threshold
        if cross_fitted is None
        else share_matched_threshold(
            threshold,
            chosen_on=worst_expected,
            deployed=np.nanmax(dev_expected, axis=1),
            ceiling=config.max_self_label_error,
        )
    )
    self_label = self_label_summary(
        config=config,
        human_bar=human_bar,
        bar=bar,
        threshold=threshold,
        capped=uncapped > threshold,
        expected=oof_expected,
        error=dev_error,
        label_error=label_error,
        checked_on=checked_on or "calibration_clips",
        deployed_threshold=deployed,
    )
    ranks = confidence_rank_on_held_out_speakers(
        confidence, dev_signals, dev_error, human_dev.groups, random_state=config.random_state
    )
    report = {
        "self_label_threshold": deployed,
        "dev_self_label_share": float(confident.mean()),
        "dev_machine_label_mae": float(np.nanmean(dev_error[confident]))
        if confident.any()
        else None,
        "dev_mae": float(np.nanmean(dev_error)),
        "self_label": self_label,
        "self_label_why": self_label_why(self_label),
        "regressor": config.regressor,
        "machine_labels_used": machine_labels_used,
        "confidence_rank": dict(zip(config.targets, ranks, strict=True)),
        "queue_order": {
            "order": str(choose_queue_order(ranks, len(human_dev))),
            "dev_clips": len(human_dev),
        },
    }
    return TrainedBundle(
        targets=config.targets,
        extractor_key=config.extractor_key,
        model=model,
        confidence=confidence,
        self_label_threshold=deployed,
        report=report,
        feature_normalisation=config.feature_normalisation,
    )


def share_matched_threshold(
    threshold: float,
    *,
    chosen_on: NDArray[np.float64],
    deployed: NDArray[np.float64],
    ceiling: float,
) -> float:
    """The deployed confidence's threshold that self-labels as many development clips as
    `threshold` does on the expected errors it was chosen on (`chosen_on`, cross-fitted):
    the deployed expected error of the k-th surest clip (ties go in together), never
    above `ceiling`; 0 when the choice labels nothing."""
    k = int(np.sum(chosen_on <= threshold)) if threshold > 0 else 0
    ranked = np.sort(deployed[np.isfinite(deployed)])
    if k == 0 or not len(ranked):
        return 0.0
    return float(min(ranked[min(k, len(ranked)) - 1], ceiling))


def human_label_bars(
    crowd_noise: Sequence[float] | None, panel: int, n_targets: int
) -> NDArray[np.float64]:
    """Per target, the mean absolute error against the true value of a `panel`-rater
    mean label of this crowd, sqrt(2 / pi) * noise / sqrt(panel)
    (`learner.raters.human_label_error` on that target alone); NaN where the noise is
    unknown, or everywhere without `crowd_noise`."""
    if crowd_noise is None:
        return np.full(n_targets, np.nan)
    noise = np.asarray(crowd_noise, dtype=np.float64).reshape(n_targets)
    with np.errstate(invalid="ignore"):
        return np.where(noise > 0, MAE_PER_SD * noise / np.sqrt(panel), np.nan)


def _per_target(targets: Sequence[str], values: ArrayLike) -> dict[str, float | None]:
    array = np.asarray(values, dtype=np.float64).reshape(len(targets))
    return {t: float(v) if np.isfinite(v) else None for t, v in zip(targets, array, strict=True)}


# Where a round measured its machine labels' error (`self_label_summary.checked_on`).
CHECKED_ON = {
    "speakers": "development speakers, each scored by a confidence calibrated on the "
    "other development speakers",
    "clips": "development clips, each scored by a confidence calibrated on the other "
    "development clips",
    "calibration_clips": "the development clips its confidence was calibrated on "
    "(too few to hold some out, so likely optimistic)",
}


def self_label_summary(
    *,
    config: RoundConfig,
    human_bar: NDArray[np.float64],
    bar: NDArray[np.float64],
    threshold: float,
    capped: bool,
    expected: NDArray[np.float64],
    error: NDArray[np.float64],
    label_error: NDArray[np.float64] | None,
    checked_on: str = "calibration_clips",
    deployed_threshold: float | None = None,
) -> dict[str, Any]:
    """Why a round labels what it labels and no more, as numbers: the bars per target
    (the project's target error, the human-label error of a `rater_panel`-rater label of
    this crowd, and the lower of the two that applies), the per-clip ceiling, the chosen
    threshold, and on the development clips the self-labelled share, their expected
    error (`expected`, per clip and target, or per clip: `expected_error` is the mean of
    the worst target, `dev_expected_error` per target) and their measured error against
    the true value (the development labels' own noise taken out; `error_vs_labels` is
    the raw one). `checked_on` says how `expected` was had (`CHECKED_ON`): "speakers" or
    "clips", cross-fitted (each clip scored by a confidence not calibrated on it), or
    "calibration_clips", in-sample. With no clip self-labelled, `surest_error` is the
    measured error of the `surest_clips` development clips it is surest of (the 3 of
    lowest expected error, with every clip tied with them: the threshold cannot split
    ties), `surest_expected` their highest expected error: what missed the bar, or the
    ceiling. `chosen_threshold` is the threshold on `expected`; `threshold` the one the
    deployed confidence applies (`deployed_threshold`, `share_matched_threshold`),
    labelling the same development clips."""
    targets = config.targets
    per_target = np.asarray(expected, dtype=np.float64).reshape(len(error), -1)
    worst = np.nanmax(per_target, axis=1) if len(per_target) else np.zeros(0)
    confident = worst <= threshold
    noise = None if label_error is None else np.nan_to_num(label_error)
    surest = (
        np.flatnonzero(worst <= np.sort(worst)[min(3, len(worst)) - 1])
        if len(worst)
        else np.zeros(0, dtype=int)
    )
    nothing = np.full(len(targets), np.nan)
    return {
        "targets": list(targets),
        "target_error": config.target_error,
        "max_self_label_error": config.max_self_label_error,
        "rater_panel": config.rater_panel if config.crowd_noise is not None else None,
        "human_label_error": _per_target(targets, human_bar),
        "bar": _per_target(targets, bar),
        "bar_source": {
            t: "human_label" if np.isfinite(h) and h < config.target_error else "target_error"
            for t, h in zip(targets, human_bar, strict=True)
        },
        "threshold": threshold if deployed_threshold is None else deployed_threshold,
        "chosen_threshold": threshold,
        "capped_by_max_error": capped,
        "checked_on": checked_on,
        "dev_clips": len(worst),
        "dev_share": float(confident.mean()) if len(worst) else 0.0,
        "expected_error": float(np.mean(worst[confident])) if confident.any() else None,
        "dev_expected_error": _per_target(
            targets,
            np.broadcast_to(per_target[confident].mean(axis=0), len(targets))
            if confident.any()
            else nothing,
        ),
        "dev_error": _per_target(
            targets,
            denoised_mae(error[confident], None if noise is None else noise[confident])
            if confident.any()
            else nothing,
        ),
        "dev_error_vs_labels": _per_target(
            targets,
            np.nanmean(error[confident], axis=0) if confident.any() else nothing,
        ),
        "surest_clips": len(surest),
        "surest_expected": float(worst[surest].max()) if len(surest) else None,
        "surest_error": _per_target(
            targets,
            denoised_mae(error[surest], None if noise is None else noise[surest])
            if len(surest)
            else nothing,
        ),
        "dev_label_noise": _per_target(
            targets,
            MAE_PER_SD * np.sqrt(np.nanmean(noise**2, axis=0))
            if noise is not None and len(noise)
            else np.zeros(len(targets)),
        ),
    }


def _bars_phrase(summary: dict[str, Any]) -> str:
    """'0.11 (the error of a 3-rater human label of this crowd, lower than the 0.20
    target)', naming the targets when their bars differ."""
    target, panel = summary["target_error"], summary["rater_panel"]
    groups: dict[str, dict[str, float]] = {}
    for t in summary["targets"]:
        human = summary["human_label_error"][t]
        if summary["bar_source"][t] == "human_label":
            why = (
                f"the error of a {panel}-rater human label of this crowd, "
                f"lower than the {target:.2f} target"
            )
        elif human is not None:
            why = f"the project's target; a {panel}-rater human label of this crowd errs more"
        else:
            why = "the project's target; the crowd's noise is not known yet"
        groups.setdefault(why, {})[t] = summary["bar"][t]
    if len(groups) == 1:
        ((why, bars),) = groups.items()
        return f"{_errors_phrase(bars)} ({why})"
    return "; ".join(
        ", ".join(f"{value:.2f} on {t}" for t, value in bars.items()) + f" ({why})"
        for why, bars in groups.items()
    )


def _errors_phrase(errors: Mapping[str, float | None]) -> str:
    shown = {t: e for t, e in errors.items() if e is not None}
    if not shown:
        return "n/a"
    if len(shown) == 1 or len({round(e, 2) for e in shown.values()}) == 1:
        return f"{next(iter(shown.values())):.2f}"
    return ", ".join(f"{e:.2f} on {t}" for t, e in shown.items())


def self_label_why(summary: dict[str, Any]) -> str:
    """`self_label_summary` in one or two plain sentences, for the models table."""
    bars = _bars_phrase(summary)
    noise = {t: v for t, v in summary["dev_label_noise"].items() if v}
    against = (
        f" (against the true value: the development labels' own error, "
        f"{_errors_phrase(noise)}, taken out)"
        if noise
        else ""
    )
    # Summaries written before the threshold was cross-fitted: in-sample.
    checked_on = CHECKED_ON[summary.get("checked_on", "calibration_clips")]
    if summary["threshold"] > 0:
        ceiling = (
            f", no higher than the {summary['max_self_label_error']:.2f} ceiling "
            "self_label_max_error"
            if summary["capped_by_max_error"]
            else ""
        )
        expected = summary.get("dev_expected_error")
        claimed = (
            f"an expected error of {_errors_phrase(expected)} and "
            if expected and any(v is not None for v in expected.values())
            else ""
        )
        return (
            f"Labels a clip itself when its expected error is at most "
            f"{summary['threshold']:.2f} on every target{ceiling}, so that its machine "
            f"labels err on average by no more than {bars}; on {checked_on}, that "
            f"is {summary['dev_share']:.0%} of clips, with {claimed}a measured error of "
            f"{_errors_phrase(summary['dev_error'])}{against}."
        )
    surest = summary.get("surest_clips", min(3, summary["dev_clips"]))
    ceiling = summary["max_self_label_error"]
    if (summary.get("surest_expected") or 0.0) > ceiling:
        return (
            f"Labels no clip itself: machine labels must err on average by no more than "
            f"{bars}, and be expected to err by at most the {ceiling:.2f} ceiling "
            f"self_label_max_error; on {checked_on}, even the {surest} clips it is surest "
            f"of are expected to err by more than that ceiling, and err by "
            f"{_errors_phrase(summary['surest_error'])}{against}; the humans label the rest."
        )
    return (
        f"Labels no clip itself: machine labels must err on average by no more than "
        f"{bars}, and on {checked_on}, even the {surest} "
        f"clips it is surest of err by {_errors_phrase(summary['surest_error'])}"
        f"{against}; the humans label the rest."
    )


def machine_label_bars(
    *,
    target_error: float,
    max_self_label_error: float,
    crowd_noise: ArrayLike,
    panel: int,
    as_good_as_humans: bool = True,
) -> tuple[float, float]:
    """The machine labels' target error and self-label ceiling. With
    `as_good_as_humans`, once the crowd's noise is known, both are capped at the error of
    a `panel`-rater human label of this crowd (`learner.raters.human_label_error`): a
    machine label must be as good as the human label it replaces.

    One number for every target, from the least noisy one, and an error against the true
    value: right only where the development labels are exact and the targets equally
    noisy. A round that knows its development labels' standard errors
    (`LabelledSet.label_error`) and the crowd's noise per target (`RoundConfig.crowd_noise`)
    should be given the project's own bars and compare per target (`train_round`)."""
    cap = human_label_error(crowd_noise, panel) if as_good_as_humans else None
    if cap is None:
        return target_error, max_self_label_error
    return min(target_error, cap), min(max_self_label_error, cap)


def _mean_ccc(metrics: dict[str, float | None] | None) -> float:
    values = [v for v in (metrics or {}).values() if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float("-inf")


def should_promote(
    *,
    has_active: bool,
    comparison: dict[str, float] | None,
    dev_ccc: dict[str, float | None],
    active_dev_ccc: dict[str, float | None] | None,
    tolerance: float = PROMOTION_TOLERANCE,
) -> bool:
    """Promote a candidate unless it is clearly worse than the active model: on the same
    development clips (`compare_on_dev`), when even the optimistic end of the interval
    trails by more than `tolerance`; across feature sets (no comparison), when its mean
    development CCC does."""
    if not has_active:
        return True
    if comparison is not None:
        return comparison["high"] >= -tolerance
    return _mean_ccc(dev_ccc) >= _mean_ccc(active_dev_ccc) - tolerance


def development_mask(data: LabelledSet, dev_seed: int) -> NDArray[np.bool_]:
    """The development speakers of a retraining (a quarter of the clips, whole speakers,
    fixed by `dev_seed` so a project keeps them from run to run)."""
    return speaker_split(data.groups, dev_fraction=0.25, random_state=dev_seed)


def dev_score(train: LabelledSet, dev: LabelledSet, config: RoundConfig) -> float:
    """Mean CCC over targets on `dev` of the plain regressor fitted on `train`; NaN with
    fewer than 10 training or 5 development clips."""
    if len(train) < 10 or len(dev) < 5:
        return float("nan")
    return _mean_dev_ccc(_fit_regressor(train, config), dev)


def _dev_predictions(
    data: LabelledSet, config: RoundConfig, dev_seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    dev_speakers = development_mask(data, dev_seed)
    train, dev = data.subset(~dev_speakers), data.subset(dev_speakers & data.human)
    if len(train) < 10 or len(dev) < 5:
        return None
    return predict_matrix(_fit_regressor(train, config), dev.X), dev.y


def paired_dev_gain(
    baseline: tuple[LabelledSet, RoundConfig],
    challenger: tuple[LabelledSet, RoundConfig],
    *,
    dev_seed: int,
    quantile: float = 0.2,
    n_boot: int = 300,
) -> float:
    """The `quantile` of a paired bootstrap, over the development clips both views share,
    of the challenger's mean CCC over targets minus the baseline's (NaN with too few
    labels). Above 0: the challenger is better beyond the noise of a small development
    set, not by the luck of which clips are in it."""
    base = _dev_predictions(*baseline, dev_seed)
    other = _dev_predictions(*challenger, dev_seed)
    if base is None or other is None:
        return float("nan")
    (base_pred, y), (other_pred, _) = base, other
    return paired_gain(y, base_pred, other_pred, quantile=quantile, n_boot=n_boot, seed=dev_seed)


def paired_gain(
    y: NDArray[np.float64],
    base_pred: NDArray[np.float64],
    other_pred: NDArray[np.float64],
    *,
    quantile: float = 0.2,
    n_boot: int = 300,
    seed: int = 0,
) -> float:
    """The `quantile` of a paired bootstrap over the clips (rows of `y`, NaN where a
    target is missing) of `other_pred`'s mean CCC over targets minus `base_pred`'s."""
    _, gains = _paired_bootstrap(y, base_pred, other_pred, n_boot=n_boot, seed=seed)
    return float(np.quantile(gains, quantile))


def choose_on_dev(
    views: dict[str, LabelledSet],
    config: RoundConfig,
    *,
    dev_seed: int,
    configs: Mapping[str, RoundConfig] | None = None,
    challengers: Sequence[str] = (),
    quantile: float = 0.2,
) -> tuple[str, dict[str, float]]:
    """Which view of the same labelled clips (one per feature normalisation, say, or
    with and without a prior: `configs` gives a view its own settings, default `config`)
    a plain regressor learns best from: fitted on all but the development speakers,
    mean CCC over targets on their human labels. Returns the winner (the first listed
    on a tie) and every view's score. A view named in `challengers` wins only when it
    is also better than the best of the others beyond the noise of the development set
    (`paired_dev_gain` at `quantile` above 0).

    Speaker normalisation wins where every speaker shows every emotion and loses where
    each speaker carries one or two (natural speech); a prior from other corpora helps
    where they resemble the project's: the project's own labels decide."""
    if not views:
        raise ValueError("choose_on_dev needs at least one view")
    settings = {name: (configs or {}).get(name, config) for name in views}
    scores = {}
    for name, data in views.items():
        dev_speakers = development_mask(data, dev_seed)
        train, dev = data.subset(~dev_speakers), data.subset(dev_speakers & data.human)
        scores[name] = dev_score(train, dev, settings[name])
    finite = {name: score for name, score in scores.items() if np.isfinite(score)}
    if not finite:
        return next(iter(views)), scores
    chosen = max(finite, key=lambda name: finite[name])
    incumbents = {name: score for name, score in finite.items() if name not in challengers}
    if chosen in challengers and incumbents:
        best = max(incumbents, key=lambda name: incumbents[name])
        low = paired_dev_gain(
            (views[best], settings[best]),
            (views[chosen], settings[chosen]),
            dev_seed=dev_seed,
            quantile=quantile,
        )
        if not low > 0:
            chosen = best
    return chosen, scores


@dataclass(frozen=True)
class Candidate:
    """A model version ready to deploy (`bundle`, refitted), its metrics, and whether it
    replaces the active one."""

    bundle: TrainedBundle
    metrics: dict[str, Any]
    promote: bool


def train_candidate(
    data: LabelledSet,
    config: RoundConfig,
    *,
    dev_seed: int,
    active: TrainedBundle | None = None,
    active_X: Features | None = None,
    active_metrics: dict[str, Any] | None = None,
    progress: Callable[[float], None] | None = None,
) -> Candidate:
    """A retraining: train on all but the development speakers, compare with the active
    model on their human labels, refit on everything, decide promotion.

    Development clips are whole speakers, human labels only, chosen by `dev_seed` so a
    project keeps the same ones in every run: the active model never trained on the
    clips it is compared on. `active_X` holds `data`'s features as the active model
    sees them when its normalisation differs (default `data.X`); a model on another
    extractor is compared by its stored `active_metrics`. Raises ValueError with too few
    labels (`train_round`).
    """
    dev_speakers = development_mask(data, dev_seed)
    dev_mask = dev_speakers & data.human
    bundle = train_round(data.subset(~dev_speakers), data.subset(dev_mask), config)
    if progress is not None:
        progress(0.7)
    dev_X, dev_y = data.X[dev_mask], data.y[dev_mask]
    dev_ccc = bundle.evaluate(dev_X, dev_y)
    active_ccc, comparison = None, None
    if active is not None:
        if active.extractor_key == bundle.extractor_key:
            # The same clips, each version on the features it learned on.
            old_X = dev_X if active_X is None else active_X[dev_mask]
            active_ccc = active.evaluate(old_X, dev_y, holdout=True)
            comparison = compare_on_dev(bundle, active, dev_X, dev_y, old_X=old_X)
        else:
            active_ccc = (active_metrics or {}).get("dev_ccc", {})
    # Compared on clips it has not seen, the model is then refitted on every labelled
    # clip, development speakers too; the held-out fit stays in the bundle for the next
    # comparison.
    bundle = bundle.refit(data.subset(~dev_speakers | dev_mask), config)
    promote = should_promote(
        has_active=active is not None,
        comparison=comparison,
        dev_ccc=dev_ccc,
        active_dev_ccc=active_ccc,
    )
    metrics = {
        "dev_ccc": dev_ccc,
        "active_dev_ccc": active_ccc,
        "vs_active": comparison,
        "n_train": int((~dev_speakers).sum()),
        "n_dev": int(dev_mask.sum()),
        **bundle.report,
        "promoted": promote,
    }
    return Candidate(bundle=bundle, metrics=metrics, promote=promote)


__all__ = [
    "MACHINE_LABEL_WEIGHT",
    "PROMOTION_TOLERANCE",
    "BundleScores",
    "Candidate",
    "LabelledSet",
    "RoundConfig",
    "TrainedBundle",
    "choose_on_dev",
    "confidence_rank_on_held_out_speakers",
    "cross_fitted_expected_error",
    "dev_score",
    "development_halves",
    "development_mask",
    "human_label_bars",
    "machine_label_bars",
    "paired_dev_gain",
    "paired_gain",
    "self_label_summary",
    "self_label_why",
    "should_promote",
    "speaker_split",
    "train_candidate",
    "train_round",
]
