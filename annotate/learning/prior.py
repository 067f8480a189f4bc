"""Priors between the database and the learner: corpora or a project's labels -> a
prior bundle; a prior -> a project's zero-shot first model and the warm candidates of
its retrainings (learner.prior)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from numpy.typing import NDArray

from annotate.learning.features import extractor_for, features_of
from annotate.learning.labelled import labelled_set
from annotate.models import Prior, Project
from learner.corpus import gold_targets, read_clips_csv
from learner.features import Extractor, corpus_normalise, get_extractor, speaker_normalise
from learner.prior import (
    PLATFORM_MODES,
    PRIOR_NORMALISATIONS,
    FrozenPrior,
    compatibility_problems,
    frozen_prior,
)
from learner.simulate import load_corpus
from learner.training import (
    Candidate,
    LabelledSet,
    RoundConfig,
    TrainedBundle,
    choose_on_dev,
    train_candidate,
)

Matrix = NDArray[np.floating[Any]]
Names = NDArray[np.object_]
# The shared corpus format's dimensional gold is on [-1, 1] (../shared/data/README.md).
CORPUS_SCALE = (-1.0, 1.0)

__all__ = [
    "CORPUS_SCALE",
    "AudioReader",
    "PriorData",
    "WarmViews",
    "corpus_prior_data",
    "prior_bundle_load",
    "prior_clips_save",
    "prior_config",
    "prior_fit",
    "prior_frozen",
    "prior_problems",
    "project_prior_data",
    "shared_gold_targets",
    "warm_views",
    "zero_shot_bundle",
]


@dataclass(frozen=True)
class PriorData:
    """Labelled clips a prior learns from: raw features, one view per normalisation
    (`views`), the targets' scales, and what they came from."""

    views: dict[str, LabelledSet]
    scales: dict[str, tuple[float, float]]
    sources: list[dict[str, Any]]


def _labelled(
    X: Matrix, y: Matrix, agreement: Matrix, groups: Names, corpora: Names
) -> dict[str, LabelledSet]:
    return {
        "corpus": LabelledSet.of_human_labels(corpus_normalise(X, corpora), y, groups, agreement),
        "speaker": LabelledSet.of_human_labels(speaker_normalise(X, groups), y, groups, agreement),
    }


# Reads an audio file: its samples and rate, or why it cannot be read.
AudioReader = Callable[[Path], tuple[NDArray[np.float32], int] | str]


def _corpus_features(
    root: Path,
    paths: Sequence[str],
    extractor: Extractor,
    read_audio: AudioReader,
    progress: Callable[[int], None] | None,
) -> tuple[list[Matrix], list[int], list[str]]:
    rows, kept, skipped = [], [], []
    for i, path in enumerate(paths):
        decoded = read_audio(root / path)
        if isinstance(decoded, str):
            skipped.append(f"{path}: {decoded}")
        else:
            rows.append(features_of(*decoded, extractor))
            kept.append(i)
        if progress is not None:
            progress(1)
    return rows, kept, skipped


def shared_gold_targets(corpus_dirs: Sequence[Path]) -> tuple[str, ...]:
    """The targets whose gold every one of the corpora fills in (in the format's order).
    Raises ValueError when they share none."""
    shared: tuple[str, ...] | None = None
    for root in corpus_dirs:
        own = gold_targets(read_clips_csv(root))
        shared = own if shared is None else tuple(t for t in shared if t in own)
    if not shared:
        raise ValueError("the corpora share no gold column (arousal, valence, dominance)")
    return shared


def corpus_prior_data(
    corpus_dirs: Sequence[Path],
    *,
    targets: Sequence[str],
    extractor_name: str,
    read_audio: AudioReader,
    progress: Callable[[int], None] | None = None,
) -> PriorData:
    """Corpus folders in the shared format, their gold labels of `targets` (each on
    CORPUS_SCALE) and features by the extractor named (audio read by `read_audio`).
    Speakers are told apart per corpus. Raises ValueError when a corpus lacks a
    target's gold or has no readable clip."""
    features: list[Matrix] = []
    labels: list[Matrix] = []
    agreement: list[Matrix] = []
    groups: list[str] = []
    corpora: list[str] = []
    sources: list[dict[str, Any]] = []
    extractor = get_extractor(extractor_name)
    for root in corpus_dirs:
        corpus = load_corpus(Path(root))
        missing = [t for t in targets if t not in corpus.targets]
        if missing:
            raise ValueError(f"{root}: no gold {', '.join(missing)} in clips.csv")
        rows, kept, skipped = _corpus_features(
            corpus.root, corpus.paths, extractor, read_audio, progress
        )
        if not kept:
            raise ValueError(f"{root}: no clip could be read ({len(skipped)} skipped)")
        columns = [corpus.targets.index(t) for t in targets]
        name = corpus.root.name
        features.extend(rows)
        labels.append(corpus.gold[kept][:, columns])
        agreement.append(corpus.agreement[kept])
        groups.extend(f"{name}/{corpus.speakers[i]}" for i in kept)
        corpora.extend([name] * len(kept))
        sources.append(
            {"corpus": name, "path": str(root), "clips": len(kept), "skipped": skipped[:20]}
        )
    return PriorData(
        views=_labelled(
            np.vstack(features).astype(np.float32),
            np.vstack(labels),
            np.concatenate(agreement),
            np.array(groups, dtype=object),
            np.array(corpora, dtype=object),
        ),
        scales=dict.fromkeys(targets, CORPUS_SCALE),
        sources=sources,
    )


def project_prior_data(project: Project) -> PriorData:
    """A project's human labels (machine labels left out: a prior learns from people)
    on its features, as a prior's training data. Raises ValueError when it has none."""
    views = {}
    for normalisation in PRIOR_NORMALISATIONS:
        data = labelled_set(project, normalisation=normalisation)
        views[normalisation] = data.subset(data.human)
    if not len(views["corpus"]):
        raise ValueError(f"project {project.name!r} has no human labels to learn a prior from")
    return PriorData(
        views=views,
        scales={
            name: (low, high)
            for name, low, high in project.targets.values_list("name", "scale_min", "scale_max")
        },
        sources=[{"project": project.name, "clips": len(views["corpus"])}],
    )


def prior_fit(
    data: PriorData, config: RoundConfig, *, normalisation: str = "auto", dev_seed: int = 0
) -> Candidate:
    """The prior's bundle, trained as a project's candidate is (learner.training
    .train_candidate: development speakers held out, confidence calibrated on them,
    then refitted on everything). `normalisation` "auto" keeps whichever of corpus and
    speaker normalisation scores better on the development speakers."""
    if normalisation == "auto":
        chosen, scores = choose_on_dev(data.views, config, dev_seed=dev_seed)
    elif normalisation in PRIOR_NORMALISATIONS:
        chosen, scores = normalisation, {}
    else:
        raise ValueError(
            f"a prior's normalisation is auto or one of {', '.join(PRIOR_NORMALISATIONS)}, "
            f"not {normalisation!r}"
        )
    candidate = train_candidate(
        data.views[chosen], replace(config, feature_normalisation=chosen), dev_seed=dev_seed
    )
    candidate.metrics["feature_normalisation"] = chosen
    if scores:
        candidate.metrics["normalisation_dev_ccc"] = {
            name: score if np.isfinite(score) else None for name, score in scores.items()
        }
    return candidate


def prior_bundle_load(prior: Prior) -> TrainedBundle:
    return TrainedBundle.load(Path(settings.MEDIA_ROOT) / prior.artifact)


def _clips_path(artifact: str | Path) -> Path:
    return Path(settings.MEDIA_ROOT) / Path(artifact).with_suffix(".clips.npz")


def prior_clips_save(data: LabelledSet, artifact: str | Path) -> None:
    """Keep the clips a prior learned from (features on its scale, labels) beside its
    bundle, written atomically."""
    path = _clips_path(artifact)
    tmp = path.with_name(f".tmp-{path.name}")
    with tmp.open("wb") as handle:
        np.savez(handle, X=np.asarray(data.X, dtype=np.float32), y=data.y)
    tmp.replace(path)


def prior_frozen(prior: Prior, targets: Sequence[str]) -> FrozenPrior:
    """The prior's regressor predicting `targets`, with the clips it learned from when
    they were kept (learner.prior.frozen_prior)."""
    bundle = prior_bundle_load(prior)
    path = _clips_path(prior.artifact)
    clips = {}
    if path.is_file():
        with np.load(path) as stored:
            clips = {"X": stored["X"], "y": stored["y"]}
    return frozen_prior(bundle.model, bundle.targets, targets, **clips)


def zero_shot_bundle(prior: Prior) -> TrainedBundle:
    """The prior as a project's first model: its predictions and confidence rank the
    project's clips from the first minute, but it labels none itself (threshold 0: its
    confidence was calibrated on other recordings, not on the project's)."""
    bundle = prior_bundle_load(prior)
    return replace(
        bundle, self_label_threshold=0.0, report={**bundle.report, "zero_shot": prior.label}
    )


@dataclass(frozen=True)
class WarmViews:
    """The candidates a retraining adds for the project's prior: one labelled view and
    one RoundConfig per way of learning with it (learner.prior.PLATFORM_MODES)."""

    views: dict[str, LabelledSet]
    configs: dict[str, RoundConfig]
    # Why the prior no longer fits the project (its targets or scales changed since it
    # was named): no warm candidate then.
    problems: tuple[str, ...] = ()


def warm_views(
    project: Project, config: RoundConfig, cold_views: dict[str, LabelledSet]
) -> WarmViews:
    """Nothing without a prior; else, per mode, the project's labels on the prior's
    feature scale with a config that learns together with the prior."""
    prior = project.prior
    if prior is None:
        return WarmViews({}, {})
    problems = prior_problems(project, prior)
    if problems:
        return WarmViews({}, {}, tuple(problems))
    scale = prior.feature_normalisation
    data = cold_views.get(scale) or labelled_set(project, normalisation=scale)
    frozen = prior_frozen(prior, config.targets)
    # A prior stored without its clips cannot be pooled: its predictions can still help.
    modes = PLATFORM_MODES if frozen.X is not None else ("residual",)
    views, configs = {}, {}
    for mode in modes:
        name = f"{scale}+prior:{mode}"
        views[name] = data
        configs[name] = replace(config, feature_normalisation=scale, prior=frozen, prior_mode=mode)
    return WarmViews(views, configs)


def prior_config(targets: Sequence[str], extractor_name: str) -> RoundConfig:
    """The learner settings a prior from corpora is trained with."""
    return RoundConfig(
        targets=tuple(targets), extractor_key=get_extractor(extractor_name).cache_key
    )


def prior_problems(project: Project, prior: Prior) -> list[str]:
    """Why `prior` cannot serve `project` ([] when it can; learner.prior
    .compatibility_problems)."""
    return compatibility_problems(
        prior_scales={name: tuple(scale) for name, scale in prior.targets.items()},
        project_scales={
            name: (low, high)
            for name, low, high in project.targets.values_list("name", "scale_min", "scale_max")
        },
        prior_extractor=prior.extractor_key,
        project_extractor=extractor_for(project).cache_key,
        prior_normalisation=prior.feature_normalisation,
        project_normalisation=project.feature_normalisation,
    )
