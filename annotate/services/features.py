"""Feature extraction for clips, stored per (clip, extractor key) and safe to repeat.

Workers on several machines may be handed the same clips at once (a batch enqueued twice,
a redelivered task, a retraining that fills in missing features while extraction tasks
run): each clip is claimed before it is decoded, so its features are extracted once.
Audio is read through the storage API (local files or S3), never by a filesystem path.
The matrices the learner reads are cached per process in annotate.learning.features.
"""

import logging
from collections.abc import Callable, Iterable

import soundfile as sf
from django.db import connection, transaction
from django.db.models import F, QuerySet

from annotate.learning.features import Extractor, extractor_for, extractor_key, features_of
from annotate.models import Clip, ClipFeatures, Project
from annotate.queueing import enqueue_on_commit

logger = logging.getLogger(__name__)

BATCH_SIZE = 64


def clips_missing_features(*, project: Project, extractor_key: str) -> QuerySet[Clip]:
    return Clip.objects.filter(project=project).exclude(features__extractor_key=extractor_key)


# First key of the PostgreSQL advisory locks that claim a clip for extraction.
_LOCK_NAMESPACE = 0x436C6970  # "Clip"


def _clip_claim(clip_id: int, *, wait: bool) -> bool:
    """Claim a clip for extraction until the current transaction ends.

    On PostgreSQL an advisory transaction lock keyed by the clip's id: a second worker
    skips the clip (`wait=False`) or waits until the first has stored its features
    (`wait=True`). No row is locked, so raters leasing and rating the clip are never held
    up. Other databases (SQLite: one machine, one worker) claim without a lock.
    """
    if connection.vendor != "postgresql":
        return True
    key = [_LOCK_NAMESPACE, clip_id & 0x7FFFFFFF]
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", key)
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", key)
        row = cursor.fetchone()
    return bool(row and row[0])


def clip_features_extract(*, clip_ids: Iterable[int], wait: bool = False) -> int:
    """Extract and store features of the given clips that do not have them yet.

    Uses each clip's project extractor. Each clip is claimed first (`_clip_claim`): one
    another worker is extracting right now is left to it (`wait=False`, what tasks do)
    or waited for (`wait=True`, what a retraining does, since it needs every clip). A
    clip whose audio cannot be read is logged and skipped; the others are stored.
    Returns how many feature rows this call wrote.
    """
    clips = Clip.objects.filter(pk__in=list(clip_ids)).select_related("project").order_by("pk")
    extractors: dict[int, Extractor] = {}
    written = present = busy = 0
    for clip in clips:
        extractor = extractors.get(clip.project_id) or extractor_for(clip.project)
        extractors[clip.project_id] = extractor
        with transaction.atomic():
            if not _clip_claim(clip.pk, wait=wait):
                busy += 1
                continue
            if ClipFeatures.objects.filter(clip=clip, extractor_key=extractor.cache_key).exists():
                present += 1
                continue
            try:
                with clip.audio.open("rb") as handle:
                    audio, sr = sf.read(handle, dtype="float32")
            except (OSError, RuntimeError, ValueError, sf.LibsndfileError) as exc:
                logger.error("clip %s: cannot read audio for features: %s", clip.pk, exc)
                continue
            values = features_of(audio, sr, extractor)
            ClipFeatures.objects.bulk_create(
                [
                    ClipFeatures(
                        clip=clip,
                        extractor_key=extractor.cache_key,
                        values=values.tobytes(),
                        n_features=values.size,
                    )
                ],
                ignore_conflicts=True,
            )
            written += 1
    logger.info(
        "features: extracted %d clips, %d already had them, %d taken by another worker",
        written,
        present,
        busy,
    )
    return written


def project_features_ensure(
    *, project: Project, after_batch: Callable[[float], None] | None = None
) -> int:
    """Extract whatever features the project's clips still miss, in batches, waiting for
    clips another worker is extracting; `after_batch(share_done)` after each batch (a
    retraining's heartbeat)."""
    key = extractor_key(project)
    missing = list(
        clips_missing_features(project=project, extractor_key=key).values_list("id", flat=True)
    )
    written = 0
    for start in range(0, len(missing), BATCH_SIZE):
        written += clip_features_extract(clip_ids=missing[start : start + BATCH_SIZE], wait=True)
        if after_batch is not None:
            after_batch(min(1.0, (start + BATCH_SIZE) / len(missing)))
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
