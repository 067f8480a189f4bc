"""Feature extraction for clips, stored per (clip, extractor key) and safe to repeat.

The matrices the learner reads are cached per process in annotate.learning.features.
"""

import logging
from collections.abc import Iterable

import soundfile as sf
from django.db.models import F, QuerySet

from annotate.learning.features import Extractor, extractor_for, extractor_key, features_of
from annotate.models import Clip, ClipFeatures, Project
from annotate.queueing import enqueue_on_commit

logger = logging.getLogger(__name__)

BATCH_SIZE = 64


def clips_missing_features(*, project: Project, extractor_key: str) -> QuerySet[Clip]:
    return Clip.objects.filter(project=project).exclude(features__extractor_key=extractor_key)


def clip_features_extract(*, clip_ids: Iterable[int]) -> int:
    """Extract and store features of the given clips that do not have them yet.

    Uses each clip's project extractor. A clip whose audio cannot be read is logged
    and skipped; the others are stored. Returns how many feature rows were written.
    """
    clips = Clip.objects.filter(pk__in=list(clip_ids)).select_related("project")
    extractors: dict[int, Extractor] = {}
    rows = []
    for clip in clips:
        extractor = extractors.get(clip.project_id) or extractor_for(clip.project)
        extractors[clip.project_id] = extractor
        if ClipFeatures.objects.filter(clip=clip, extractor_key=extractor.cache_key).exists():
            continue
        try:
            with clip.audio.open("rb") as handle:
                audio, sr = sf.read(handle, dtype="float32")
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            logger.error("clip %s: cannot read audio for features: %s", clip.pk, exc)
            continue
        values = features_of(audio, sr, extractor)
        rows.append(
            ClipFeatures(
                clip=clip,
                extractor_key=extractor.cache_key,
                values=values.tobytes(),
                n_features=values.size,
            )
        )
    ClipFeatures.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def project_features_ensure(*, project: Project) -> int:
    """Extract whatever features the project's clips still miss, in batches."""
    key = extractor_key(project)
    missing = list(
        clips_missing_features(project=project, extractor_key=key).values_list("id", flat=True)
    )
    written = 0
    for start in range(0, len(missing), BATCH_SIZE):
        written += clip_features_extract(clip_ids=missing[start : start + BATCH_SIZE])
    return written


def features_enqueue(*, clip_ids: list[int]) -> None:
    """Queue extraction in batches, sent when the current transaction commits."""
    from annotate.tasks import learner_features_extract_task

    for start in range(0, len(clip_ids), BATCH_SIZE):
        enqueue_on_commit(learner_features_extract_task, clip_ids[start : start + BATCH_SIZE])


def project_speakers_changed(*, project_id: int) -> None:
    """Call after clips of the project changed speaker: per-speaker normalisation (and
    every worker's FeatureCache of it) must be recomputed."""
    Project.objects.filter(pk=project_id).update(speakers_version=F("speakers_version") + 1)
