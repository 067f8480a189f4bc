"""Feature extraction for clips, cached per (clip, extractor key) and safe to repeat."""

import logging
from collections.abc import Iterable

import numpy as np
import soundfile as sf
from django.db.models import Count, F, Max, QuerySet

from annotate.models import Clip, ClipFeatures, FeatureNormalisation, Project
from annotate.queueing import enqueue_on_commit
from learner.features import get_extractor, speaker_normalise

logger = logging.getLogger(__name__)

BATCH_SIZE = 64
# How features are put on a common scale before learning (learner.features.normalise).
NORMALISATIONS = tuple(FeatureNormalisation.values)


def _extractor_for(project: Project):
    return get_extractor(project.feature_extractor)


def clips_missing_features(*, project: Project, extractor_key: str) -> QuerySet[Clip]:
    return Clip.objects.filter(project=project).exclude(features__extractor_key=extractor_key)


def clip_features_extract(*, clip_ids: Iterable[int]) -> int:
    """Extract and store features of the given clips that do not have them yet.

    Uses each clip's project extractor. A clip whose audio cannot be read is logged
    and skipped; the others are stored. Returns how many feature rows were written.
    """
    clips = Clip.objects.filter(pk__in=list(clip_ids)).select_related("project")
    extractors = {}
    rows = []
    for clip in clips:
        extractor = extractors.get(clip.project_id) or _extractor_for(clip.project)
        extractors[clip.project_id] = extractor
        if ClipFeatures.objects.filter(clip=clip, extractor_key=extractor.cache_key).exists():
            continue
        try:
            with clip.audio.open("rb") as handle:
                audio, sr = sf.read(handle, dtype="float32")
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            logger.error("clip %s: cannot read audio for features: %s", clip.pk, exc)
            continue
        values = np.asarray(extractor.extract(audio, sr), dtype="<f4")
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
    key = _extractor_for(project).cache_key
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


class FeatureCache:
    """Per-process cache of a project's feature matrix, reloaded when rows change.

    Loading 100k feature vectors from the database takes seconds; the online loop
    needs them after every rating, so a worker keeps them between calls. The cache
    checks the row count, the newest row id and the project's speakers_version on each
    use, so it is never stale.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str], tuple[dict, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._normalised: dict[tuple[int, str], tuple[dict, np.ndarray]] = {}

    def matrix(
        self, *, project_id: int, extractor_key: str, normalisation: str = "none"
    ) -> tuple[np.ndarray, np.ndarray]:
        """(clip_ids, X) of every clip of the project with features, ordered by clip id;
        `normalisation="speaker"` standardises them within each speaker first
        (learner.features.speaker_normalise)."""
        if normalisation not in NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {NORMALISATIONS}, not {normalisation!r}"
            )
        rows = ClipFeatures.objects.filter(clip__project_id=project_id, extractor_key=extractor_key)
        stamp = rows.aggregate(n=Count("id"), last=Max("id"))
        stamp["speakers"] = (
            Project.objects.filter(pk=project_id).values_list("speakers_version", flat=True).first()
        )
        key = (project_id, extractor_key)
        cached = self._entries.get(key)
        if cached is None or cached[0] != stamp:
            data = list(rows.order_by("clip_id").values_list("clip_id", "clip__speaker", "values"))
            clip_ids = np.array([clip_id for clip_id, _, _ in data], dtype=np.int64)
            speakers = np.array([speaker for _, speaker, _ in data], dtype=object)
            if data:
                X = np.frombuffer(b"".join(bytes(v) for _, _, v in data), dtype="<f4").reshape(
                    len(data), -1
                )
            else:
                X = np.zeros((0, 0), dtype=np.float32)
            cached = self._entries[key] = (stamp, clip_ids, speakers, X)
        _, clip_ids, speakers, X = cached
        if normalisation == "none" or not clip_ids.size:
            return clip_ids, X
        normalised = self._normalised.get(key)
        if normalised is None or normalised[0] != stamp:
            normalised = self._normalised[key] = (stamp, speaker_normalise(X, speakers))
        return clip_ids, normalised[1]

    def rows(
        self, *, project_id: int, extractor_key: str, normalisation: str, clip_ids
    ) -> tuple[np.ndarray, np.ndarray]:
        """(kept_ids, X): those of `clip_ids` that have features, in the given order, and
        their rows of `matrix` (normalised over the whole project)."""
        all_ids, all_X = self.matrix(
            project_id=project_id, extractor_key=extractor_key, normalisation=normalisation
        )
        row_of = {int(clip_id): row for row, clip_id in enumerate(all_ids)}
        kept = np.array([int(c) for c in clip_ids if int(c) in row_of], dtype=np.int64)
        if not kept.size:
            return kept, np.zeros((0, all_X.shape[-1]), dtype=np.float32)
        return kept, all_X[[row_of[c] for c in kept.tolist()]]


feature_cache = FeatureCache()
