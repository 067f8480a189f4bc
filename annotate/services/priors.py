"""Priors: train and store them, and let a project start from one.

A prior is trained on corpus folders or on a project's human labels
(annotate.learning.prior), saved under MEDIA_ROOT/priors/<name>/v<version>.bundle and
recorded as a Prior row: versions count up per name. A project names a prior only when
targets, scales, extractor and normalisation fit (`learner.prior.compatibility_problems`);
a project without a model of its own then gets the prior as its zero-shot first model
(priority and confidence before any rating, no machine label), and every retraining
decides on the development speakers whether the prior still helps.
"""

import io
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from numpy.typing import NDArray

from annotate.audio import decode_file
from annotate.errors import NotFound, ValidationError
from annotate.learning.config import learner_config
from annotate.learning.prior import (
    PriorData,
    corpus_prior_data,
    prior_clips_save,
    prior_config,
    prior_fit,
    prior_problems,
    project_prior_data,
    shared_gold_targets,
    zero_shot_bundle,
)
from annotate.models import ModelVersion, Prior, Project
from annotate.queueing import enqueue_on_commit
from annotate.services.features import project_features_ensure

logger = logging.getLogger(__name__)

__all__ = [
    "prior_get",
    "prior_normalisation_served",
    "prior_train_from_corpora",
    "prior_train_from_project",
    "project_prior_set",
]


PRIOR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")


def _check_name(name: str) -> None:
    if not PRIOR_NAME.fullmatch(name):
        raise ValidationError(
            f"prior name {name!r}: use 1-60 lower-case letters, digits, - or _ "
            "(it names a folder, and NAME@VERSION refers to a version)",
            code="invalid",
        )


def prior_get(label: str) -> Prior:
    """A prior by "name" (its newest version) or "name@version"; NotFound names the
    known priors."""
    name, _, version = label.partition("@")
    priors = Prior.objects.filter(name=name)
    if version:
        if not version.isdigit():
            raise ValidationError(f"prior version must be a number: {label!r}", code="invalid")
        priors = priors.filter(version=int(version))
    prior = priors.order_by("-version").first()
    if prior is None:
        known = sorted({p.label for p in Prior.objects.all()})
        raise NotFound(
            f"no prior {label!r}; known: {', '.join(known) or 'none (train one with train_prior)'}",
            code="prior_not_found",
        )
    return prior


def _read_audio(path: Path) -> tuple[NDArray[np.float32], int] | str:
    decoded = decode_file(str(path), settings.CONCORD_MAX_CLIP_SECONDS)
    if isinstance(decoded, str):
        return decoded
    audio, sample_rate = sf.read(io.BytesIO(decoded.wav_bytes), dtype="float32")
    return audio, sample_rate


def _prior_store(
    *, name: str, data: PriorData, config: Any, normalisation: str, user: User | None
) -> Prior:
    candidate = prior_fit(data, config, normalisation=normalisation)
    bundle = candidate.bundle
    for _ in range(3):
        version = (Prior.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1
        # A unique file per attempt: a process that loses the race for this version
        # number never overwrites the winner's bundle.
        relative = Path("priors") / name / f"v{version}-{uuid.uuid4().hex[:8]}.bundle"
        sha256 = bundle.save(Path(settings.MEDIA_ROOT) / relative)
        # Its own clips, for projects that pool them with theirs.
        prior_clips_save(data.views[bundle.feature_normalisation], relative)
        try:
            with transaction.atomic():
                return Prior.objects.create(
                    name=name,
                    version=version,
                    targets={t: list(data.scales[t]) for t in config.targets},
                    extractor_key=bundle.extractor_key,
                    feature_normalisation=bundle.feature_normalisation,
                    sources=data.sources,
                    n_clips=len(next(iter(data.views.values()))),
                    metrics=candidate.metrics,
                    artifact=str(relative),
                    sha256=sha256,
                    created_by=user,
                )
        except IntegrityError:
            continue  # another process took this version number: take the next
    raise ValidationError(f"could not store prior {name!r}: versions kept colliding")


def prior_train_from_corpora(
    *,
    name: str,
    corpus_dirs: Sequence[Path],
    targets: Sequence[str] | None = None,
    extractor: str = "compare16k",
    normalisation: str = "auto",
    user: User | None = None,
    progress: Callable[[int], None] | None = None,
) -> Prior:
    """A new version of prior `name` from corpus folders' gold labels of `targets`
    (default: every gold column all the corpora fill in). Raises ValidationError for an
    unusable corpus or too few clips."""
    _check_name(name)
    try:
        targets = targets or shared_gold_targets(corpus_dirs)
        data = corpus_prior_data(
            corpus_dirs,
            targets=targets,
            extractor_name=extractor,
            read_audio=_read_audio,
            progress=progress,
        )
        return _prior_store(
            name=name,
            data=data,
            config=prior_config(targets, extractor),
            normalisation=normalisation,
            user=user,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise ValidationError(str(exc), code="prior_unusable") from None


def prior_train_from_project(
    *, name: str, project: Project, normalisation: str = "auto", user: User | None = None
) -> Prior:
    """A new version of prior `name` from a project's human labels."""
    _check_name(name)
    project_features_ensure(project=project)
    try:
        data = project_prior_data(project)
        return _prior_store(
            name=name,
            data=data,
            config=learner_config(project),
            normalisation=normalisation,
            user=user,
        )
    except ValueError as exc:
        raise ValidationError(str(exc), code="prior_unusable") from None


def prior_normalisation_served(prior: Prior) -> str:
    """The normalisation a new project takes to start from `prior`: features as extracted
    (the default) serve a prior normalised per corpus; one normalised per speaker needs
    `auto`, which scales the project's features as each model learned them."""
    return "none" if prior.feature_normalisation == "corpus" else "auto"


def _is_zero_shot(version: ModelVersion | None) -> bool:
    return version is not None and bool(version.metrics.get("zero_shot"))


@transaction.atomic
def project_prior_set(*, project: Project, prior: Prior | None) -> Project:
    """Name `prior` as the project's (None: none). Refused with every reason when it does
    not fit the project. A project without a model of its own (none, or another
    prior's zero-shot model) gets the prior as its active zero-shot model, and its
    pool is rescored; removing the prior retires its zero-shot model."""
    from annotate.tasks import learner_project_score_task

    project = Project.objects.select_for_update().get(pk=project.pk)
    if prior is not None:
        problems = prior_problems(project, prior)
        if problems:
            raise ValidationError(
                f"prior {prior.label} does not fit project {project.name!r}: "
                + "; ".join(problems),
                code="prior_incompatible",
            )
    project.prior = prior
    project.save(update_fields=["prior"])
    active = ModelVersion.objects.filter(project=project, is_active=True).first()
    if active is not None and not _is_zero_shot(active):
        return project  # the project's own model stays; the prior joins at the next retraining
    if active is not None:
        ModelVersion.objects.filter(pk=active.pk).update(is_active=False)
    if prior is not None:
        _zero_shot_version(project, prior)
    enqueue_on_commit(learner_project_score_task, project.pk)
    return project


def _zero_shot_version(project: Project, prior: Prior) -> ModelVersion:
    relative = Path("models") / str(project.pk) / f"prior-{prior.pk}.bundle"
    bundle = zero_shot_bundle(prior)
    sha256 = bundle.save(Path(settings.MEDIA_ROOT) / relative)
    version, _ = ModelVersion.objects.update_or_create(
        name=f"p{project.pk}-prior{prior.pk}",
        defaults={
            "project": project,
            "artifact": str(relative),
            "sha256": sha256,
            "extractor_key": prior.extractor_key,
            "metrics": {
                "zero_shot": True,
                "prior": {
                    "name": prior.label,
                    "used": True,
                    "mode": "zero-shot",
                    "why": f"prior {prior.label} scores the clips until the project's own "
                    "labels train a model; it labels no clip itself",
                },
                "feature_normalisation": prior.feature_normalisation,
                "prior_dev_ccc": prior.metrics.get("dev_ccc"),
                "self_label_threshold": 0.0,
                # The queue refresh follows the order the scoring pass gives the queue.
                "queue_order": {"order": str(bundle.queue_order)},
                "promoted": True,
            },
            "is_active": True,
            "promoted_at": timezone.now(),
        },
    )
    logger.info("project %s starts from prior %s", project.pk, prior.label)
    return version
