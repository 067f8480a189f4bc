"""Getting audio into a project: files, folders, uploads and whole corpora.

Each file is decoded and converted once to 16 kHz mono, stored under MEDIA_ROOT and
deduplicated by the sha256 of its original bytes. A file that cannot be taken is
reported by name with its reason and leaves nothing behind; the rest go in.
"""

import hashlib
import hmac
import logging
import math
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, IntegrityError, transaction

from annotate.audio import (
    AudioError,
    DecodedClip,
    DecodeTimeout,
    decode,
    decode_crash_reason,
    decode_file,
    sha256_of,
)
from annotate.errors import ValidationError
from annotate.learning.corpus import (
    gold_targets,
    ratings_csv_path,
    read_clips_csv,
    read_ratings_csv,
)
from annotate.models import (
    Clip,
    ClipState,
    Project,
    RaterProfile,
    Rating,
    RatingSource,
    ReferenceLabel,
    Role,
    Target,
)
from annotate.services.features import features_enqueue
from annotate.services.raters import rater_reliability_update
from annotate.services.ratings import clip_settle, rating_values_validate

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".w64", ".caf"}
GOLD_TARGETS = {
    "valence": ("negative", "positive"),
    "arousal": ("calm", "excited"),
    "dominance": ("submissive", "dominant"),
}
FIELD_COLUMNS = {"speaker", "gender", "language", "split"}
FILE_COLUMNS = {"clip_id", "path", "duration_s", "sample_rate", "channels", "sha256"}


@dataclass
class ImportReport:
    created: list[tuple[int, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    ratings: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "created": [{"id": pk, "name": name} for pk, name in self.created],
            "skipped": [{"name": name, "reason": reason} for name, reason in self.skipped],
            "errors": [{"name": name, "reason": reason} for name, reason in self.errors],
            "ratings": self.ratings,
        }


@dataclass(frozen=True)
class Source:
    """One file to import: a name to report, its bytes, and fields for its Clip."""

    name: str
    read: Callable[[], bytes]
    fields: dict[str, object] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)


def project_get_or_create(
    *,
    name: str,
    targets: Iterable[str] = ("arousal", "valence"),
    new_fields: Mapping[str, Any] | None = None,
) -> Project:
    """The named project, created with the given targets on [-1, 1] (and `new_fields`) if
    it is new."""
    project, created = Project.objects.get_or_create(name=name, defaults=dict(new_fields or {}))
    if created:
        for position, target in enumerate(targets):
            low, high = GOLD_TARGETS.get(target, ("low", "high"))
            Target.objects.create(
                project=project, name=target, position=position, anchor_low=low, anchor_high=high
            )
    return project


def _decode_one(
    source: Source, max_seconds: float, max_decode_seconds: float, budget_end: float | None
) -> DecodedClip | str:
    limit = max_decode_seconds
    if budget_end is not None:
        limit = min(limit, budget_end - time.monotonic())
        if limit <= 0:
            return _OUT_OF_TIME
    try:
        return decode(source.read(), max_seconds=max_seconds, max_decode_seconds=limit)
    except DecodeTimeout as exc:
        return _OUT_OF_TIME if limit < max_decode_seconds else str(exc)
    except AudioError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    except Exception as exc:  # a decoder bug in one file must not sink the batch
        logger.exception("decoding %s failed", source.name)
        return decode_crash_reason(exc)


_OUT_OF_TIME = (
    "not imported: the upload ran out of time before this file was decoded; "
    "send it again in a smaller upload"
)


def _decoded(
    sources: list[Source],
    max_seconds: float,
    max_decode_seconds: float,
    workers: int,
    decode_path: Callable[[str, float, float], DecodedClip | str] = decode_file,
    budget_end: float | None = None,
) -> Iterator[tuple[Source, DecodedClip | str]]:
    """Each source with its decoded clip or the reason it cannot be taken, in order.

    With several workers (files on disk only) each file is decoded in a separate
    process; a worker process that dies (a decoder crash, the kernel's OOM killer)
    costs only the file it was decoding: the files not yet decoded are decoded again,
    each in a process of its own, and the one that kills its process is reported.
    In this process, `budget_end` (a time.monotonic() instant) bounds the whole batch:
    the files it leaves no time for are reported as such.
    """
    found = [getattr(source.read, "path", None) for source in sources]
    if not (workers > 1 and len(sources) > 8 and all(found)):
        for source in sources:
            yield source, _decode_one(source, max_seconds, max_decode_seconds, budget_end)
        return
    paths = [str(path) for path in found]
    # forkserver: the workers start clean, without this process's database connections.
    context = multiprocessing.get_context("forkserver")
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [
                pool.submit(decode_path, path, max_seconds, max_decode_seconds) for path in paths
            ]
            for source, future in zip(sources, futures, strict=True):
                yield source, future.result()
                done += 1
    except BrokenProcessPool:
        logger.warning("a decoding process died; decoding the rest one file per process")
    for source, path in zip(sources[done:], paths[done:], strict=True):
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as alone:
                result = alone.submit(decode_path, path, max_seconds, max_decode_seconds).result()
        except BrokenProcessPool:
            result = "the decoder crashed on this file; the other files are not affected"
        yield source, result


def _store(*, project: Project, source: Source, clip: DecodedClip) -> Clip:
    storage_name = f"clips/{project.pk}/{clip.sha256[:2]}/{clip.sha256}.wav"
    stored_name = default_storage.save(storage_name, ContentFile(clip.wav_bytes))
    try:
        with transaction.atomic():
            row = Clip.objects.create(
                project=project,
                audio=stored_name,
                sha256=clip.sha256,
                duration_s=clip.duration_s,
                original_sample_rate=clip.original_sample_rate,
                original_channels=clip.original_channels,
                original_name=source.name[-300:],
                peaks=clip.peaks,
                state=ClipState.AWAITING_HUMANS,
                ratings_wanted=project.min_raters,
                **source.fields,
            )
            ReferenceLabel.objects.bulk_create(
                ReferenceLabel(clip=row, target=target, value=value)
                for target, value in source.reference.items()
            )
    except BaseException:
        default_storage.delete(stored_name)  # nothing of a failed clip stays behind
        raise
    return row


def _unguessable_rank(project: Project, name: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{project.pk}:{name}".encode(), hashlib.sha256).hexdigest()


def clips_import(
    *,
    project: Project,
    sources: list[Source],
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    time_budget_s: float | None = None,
) -> ImportReport:
    """Decode, store and register each source; report what went in, what not, and why.

    Each source is taken or refused on its own. With `time_budget_s` (web requests,
    which a server kills when they run too long) the sources that budget leaves no
    time for are refused with that reason, so the report always says what went in.
    """
    budget_end = None if time_budget_s is None else time.monotonic() + time_budget_s
    report = ImportReport()
    max_seconds = float(settings.CONCORD_MAX_CLIP_SECONDS)
    known_sha = dict(Clip.objects.filter(project=project).values_list("sha256", "id"))
    known_ids = set(
        Clip.objects.filter(project=project, external_id__isnull=False).values_list(
            "external_id", flat=True
        )
    )
    todo = []
    for source in sources:
        external_id = source.fields.get("external_id")
        if external_id is not None and external_id in known_ids:
            report.skipped.append((source.name, f"clip {external_id!r} is already imported"))
            if progress:
                progress(1)
        else:
            todo.append(source)
    # Clip ids must not follow the corpus's order, or a rater could map ids to a public
    # corpus: register the clips in an order keyed by this installation's SECRET_KEY.
    todo.sort(key=lambda source: _unguessable_rank(project, source.name))
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    max_decode_seconds = float(settings.CONCORD_MAX_DECODE_SECONDS)
    try:
        decoded = _decoded(todo, max_seconds, max_decode_seconds, workers, budget_end=budget_end)
        for source, result in decoded:
            if progress:
                progress(1)
            if isinstance(result, str):
                report.errors.append((source.name, result))
                continue
            if (duplicate := known_sha.get(result.sha256)) is not None:
                report.skipped.append((source.name, f"same audio as clip {duplicate}"))
                continue
            try:
                clip = _store(project=project, source=source, clip=result)
            except IntegrityError as exc:
                report.skipped.append(
                    (source.name, f"already in the project ({exc.__cause__ or exc})")
                )
                continue
            except (DatabaseError, OSError) as exc:
                # Storage or database trouble with one file: it is reported, the rest go on.
                logger.exception("storing %s failed", source.name)
                report.errors.append((source.name, f"could not be stored ({type(exc).__name__})"))
                continue
            known_sha[clip.sha256] = clip.pk
            report.created.append((clip.pk, source.name))
    finally:
        # Whatever stops the batch, the clips already stored get their features.
        features_enqueue(clip_ids=[pk for pk, _ in report.created])
    return report


class _PathReader:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __call__(self) -> bytes:
        return Path(self.path).read_bytes()


def audio_paths(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files named or found in folders (recursively), and names that are neither."""
    found, missing = [], []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            missing.append((str(path), "no such file or folder"))
    return found, missing


def files_import(
    *, project: Project, paths: Iterable[Path], progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import bare audio files and folders into a project."""
    files, missing = audio_paths(paths)
    report = clips_import(
        project=project,
        sources=[Source(name=str(p), read=_PathReader(p)) for p in files],
        progress=progress,
    )
    report.errors[:0] = missing
    return report


def _number_or_text(raw: str) -> float | str:
    """A CSV cell as a float where it is one (validated later), else the text itself."""
    try:
        return float(raw)
    except ValueError:
        return raw


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _corpus_sources(
    corpus_dir: Path, rows: list[dict[str, str]], targets: list[str]
) -> list[Source]:
    sources = []
    for row in rows:
        fields = {"external_id": row["clip_id"]}
        fields.update({k: row[k] for k in FIELD_COLUMNS if row.get(k)})
        metadata = {
            k: v
            for k, v in row.items()
            if k not in FIELD_COLUMNS | FILE_COLUMNS | set(GOLD_TARGETS) and v not in (None, "")
        }
        reference = {t: v for t in targets if (v := _number(row.get(t, ""))) is not None}
        path = corpus_dir / row["path"]
        sources.append(
            Source(
                name=row["path"],
                read=_PathReader(path),
                fields={**fields, "metadata": metadata},
                reference=reference,
            )
        )
    return sources


def corpus_import(
    *,
    corpus_dir: Path,
    project_name: str,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    new_project_fields: Mapping[str, Any] | None = None,
) -> ImportReport:
    """Import a corpus folder (clips.csv + audio [+ ratings.csv]) into a project (created
    with `new_project_fields` if it is new)."""
    rows = read_clips_csv(corpus_dir)
    # Targets: the gold columns the corpus fills in (an empty column names no target).
    targets = list(gold_targets(rows)) or ["arousal", "valence"]
    project = project_get_or_create(
        name=project_name, targets=targets, new_fields=new_project_fields
    )
    if on_start:
        on_start(len(rows))
    report = clips_import(
        project=project, sources=_corpus_sources(corpus_dir, rows, targets), progress=progress
    )
    if ratings_csv_path(corpus_dir).is_file():
        ratings_import(project=project, corpus_dir=corpus_dir, report=report)
    return report


def _rater_user(project: Project, rater_id: str) -> User:
    username = re.sub(r"[^\w.@+-]", "_", f"{project.name}-rater-{rater_id}")[:150]
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        RaterProfile.objects.create(user=user, role=Role.RATER, external_id=rater_id)
    project.members.add(user)
    return user


def ratings_import(*, project: Project, corpus_dir: Path, report: ImportReport) -> None:
    """Store a corpus's ratings.csv as human ratings by per-corpus rater users."""
    targets = {t.name: t for t in project.targets.all()}
    clips = dict(
        Clip.objects.filter(project=project, external_id__isnull=False).values_list(
            "external_id", "id"
        )
    )
    users: dict[str, User] = {}
    touched = set()
    for line, row in read_ratings_csv(corpus_dir):
        where = f"ratings.csv line {line}"
        clip_id = clips.get(row.get("clip_id", ""))
        if clip_id is None:
            report.errors.append((where, f"unknown clip_id {row.get('clip_id')!r}"))
            continue
        given = {name: row[name] for name in targets if row.get(name) not in (None, "")}
        try:
            values = rating_values_validate(
                targets=list(targets.values()),
                values={name: _number_or_text(raw) for name, raw in given.items()},
                partial=True,
            )
        except ValidationError as exc:
            shown = ", ".join(f"{name}={raw!r}" for name, raw in given.items())
            report.errors.append((where, f"{shown}: {exc.message}" if shown else exc.message))
            continue
        rater_id = row.get("rater_id", "").strip()
        if not rater_id:
            report.errors.append((where, "empty rater_id"))
            continue
        user = users.get(rater_id) or _rater_user(project, rater_id)
        users[rater_id] = user
        _, created = Rating.objects.get_or_create(
            clip_id=clip_id,
            rater=user,
            defaults={
                "values": values,
                "client_token": f"import:{clip_id}",
                "source": RatingSource.IMPORT,
            },
        )
        if created:
            report.ratings += 1
            touched.add(clip_id)
    for clip_id in sorted(touched):
        clip_settle(clip_id=clip_id)
    if touched:
        # The crowd's and each rater's noise from what was imported, then the labels again
        # weighted by it, as if the ratings had arrived one by one.
        rater_reliability_update(project_id=project.pk)
        for clip_id in sorted(touched):
            clip_settle(clip_id=clip_id)


def upload_sources(files: Sequence[UploadedFile]) -> list[Source]:
    """Sources from uploaded files (Django UploadedFile), read lazily."""
    return [Source(name=f.name or "upload", read=f.read) for f in files]


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n % 2**20 else f"{n // 2**20} MiB"


def upload_request_too_large(declared: int | None, limit: int) -> str | None:
    """Why an upload request of `declared` bytes (its Content-Length) is refused, if it is."""
    if declared is None or declared <= limit:
        return None
    return (
        f"the upload is too large: {_mib(declared)} in one request (the limit is "
        f"{_mib(limit)} per request; send the files in several requests)"
    )


def upload_too_many(count: int | None, limit: int) -> str:
    """The refusal of an upload with `count` files (None: more than `limit`)."""
    sent = f"{count} files" if count is not None else f"more than {limit} files"
    return (
        f"too many files: {sent} in one request (the limit is {limit}; send them in "
        "several requests)"
    )


def upload_too_large(files: Sequence[UploadedFile], limit: int) -> list[tuple[str, str]]:
    return [
        (
            f.name or "upload",
            f"too large: {(f.size or 0) / 2**20:.1f} MiB (the limit is {limit / 2**20:.0f} MiB)",
        )
        for f in files
        if (f.size or 0) > limit
    ]


__all__ = [
    "ImportReport",
    "Source",
    "clips_import",
    "corpus_import",
    "files_import",
    "project_get_or_create",
    "ratings_import",
    "sha256_of",
    "upload_request_too_large",
    "upload_sources",
    "upload_too_large",
    "upload_too_many",
]
