"""Feature rows as matrices, cached per process, and the project's extractor."""

from collections.abc import Iterable
from typing import Any

import numpy as np
import psycopg
from django.db import connection
from django.db.models import Count, Max, QuerySet
from numpy.typing import NDArray

from annotate.models import ClipFeatures, FeatureNormalisation, ModelVersion, Project
from learner.features import (
    EXTRACTORS,
    Extractor,
    corpus_normalise,
    get_extractor,
    speaker_normalise,
)

# How features are put on a common scale before learning (learner.features.normalise);
# a project's "auto" picks one of these on its development speakers.
NORMALISATIONS = tuple(v for v in FeatureNormalisation.values if v != FeatureNormalisation.AUTO)
EXTRACTOR_NAMES = tuple(sorted(EXTRACTORS))
# Every scale the cache gives features on: a prior's features may also be standardised
# over the whole project ("corpus", learner.prior.PRIOR_NORMALISATIONS).
FEATURE_SCALES = (*NORMALISATIONS, "corpus")


__all__ = [
    "EXTRACTOR_NAMES",
    "FEATURE_SCALES",
    "NORMALISATIONS",
    "Extractor",
    "FeatureCache",
    "extractor_for",
    "feature_cache",
    "normalisation_in_use",
    "normalisations_to_try",
]

Stamp = dict[str, int | None]
Ids = NDArray[np.int64]
Speakers = NDArray[np.object_]
Matrix = NDArray[np.float32]


def extractor_for(project: Project) -> Extractor:
    return get_extractor(project.feature_extractor)


def extractor_key(project: Project) -> str:
    """The cache key of the project's extractor: stored features are reused only for it."""
    return extractor_for(project).cache_key


def _active_normalisation(project: Project) -> str | None:
    return (
        ModelVersion.objects.filter(project=project, is_active=True)
        .values_list("metrics__feature_normalisation", flat=True)
        .first()
    )


def normalisations_to_try(project: Project) -> tuple[str, ...]:
    """The normalisations a retraining compares: the project's own, or with "auto" all of
    them, the active model's first (it keeps a tie)."""
    if project.feature_normalisation != FeatureNormalisation.AUTO:
        return (project.feature_normalisation,)
    active = _active_normalisation(project)
    return tuple(sorted(NORMALISATIONS, key=lambda name: name != active))


def normalisation_in_use(project: Project) -> str:
    """The normalisation the project's clips are scaled with outside a retraining (the
    online queue): with "auto", the active model's choice, else none (no speaker
    normalisation before the labels have shown it helps)."""
    if project.feature_normalisation != FeatureNormalisation.AUTO:
        return str(project.feature_normalisation)
    active = _active_normalisation(project)
    return active if active in FEATURE_SCALES else str(FeatureNormalisation.NONE)


def features_of(
    audio: NDArray[np.float32], sample_rate: int, extractor: Extractor
) -> NDArray[np.float32]:
    """One clip's feature vector, as stored (little-endian float32)."""
    return np.asarray(extractor.extract(audio, sample_rate), dtype="<f4")


def _binary_rows(rows: QuerySet[Any, Any]) -> list[Any]:
    """The rows of a values_list query. On PostgreSQL in binary format: bytea in text
    format is sent as hex, which took 1.4 s of wall time for 4,000 x 6,373 features
    against 0.25 s in binary (bench.load's project, 2026-12-07)."""
    if connection.vendor != "postgresql":
        return list(rows)
    sql, params = rows.query.sql_with_params()
    connection.ensure_connection()
    # Django's cursors bind on the client, and those cannot read binary results.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.format = psycopg.pq.Format.BINARY
        cursor.execute(sql, params)
        return list(cursor.fetchall())


class FeatureCache:
    """Per-process cache of a project's feature matrix, reloaded when rows change.

    Loading 100k feature vectors from the database takes seconds; the online loop
    needs them after every rating, so a worker keeps them between calls. The cache
    checks the row count, the newest row id and the project's speakers_version on each
    use, so it is never stale.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str], tuple[Stamp, Ids, Speakers, Matrix]] = {}
        self._normalised: dict[tuple[int, str, str], tuple[Stamp, Matrix]] = {}

    def matrix(
        self, *, project_id: int, extractor_key: str, normalisation: str = "none"
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """(clip_ids, X) of every clip of the project with features, ordered by clip id;
        `normalisation="speaker"` standardises them within each speaker first
        (learner.features.speaker_normalise), "corpus" over all the project's clips."""
        if normalisation not in FEATURE_SCALES:
            raise ValueError(
                f"normalisation must be one of {FEATURE_SCALES}, not {normalisation!r}"
            )
        rows = ClipFeatures.objects.filter(clip__project_id=project_id, extractor_key=extractor_key)
        stamp = rows.aggregate(n=Count("id"), last=Max("id"))
        stamp["speakers"] = (
            Project.objects.filter(pk=project_id).values_list("speakers_version", flat=True).first()
        )
        key = (project_id, extractor_key)
        cached = self._entries.get(key)
        if cached is None or cached[0] != stamp:
            data = _binary_rows(
                rows.order_by("clip_id").values_list("clip_id", "clip__speaker", "values")
            )
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
        scaled_key = (*key, normalisation)
        normalised = self._normalised.get(scaled_key)
        if normalised is None or normalised[0] != stamp:
            scaled = (
                corpus_normalise(X) if normalisation == "corpus" else speaker_normalise(X, speakers)
            )
            normalised = self._normalised[scaled_key] = (stamp, scaled)
        return clip_ids, normalised[1]

    def rows(
        self, *, project_id: int, extractor_key: str, normalisation: str, clip_ids: Iterable[int]
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
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
