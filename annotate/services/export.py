"""A project's labels and ratings as rows, and those rows as CSV or JSON text.

Everything here is a generator that reads the database in chunks (`.iterator()`), so an
export of any size runs in constant memory and a caller can stream it as it comes: a
web response, a file, stdout. Values are plain JSON types (timestamps as ISO 8601
strings, missing values as None) so CSV and JSON exports hold the same rows.
"""

import csv
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from itertools import islice
from typing import IO, Any

from django.conf import settings
from django.db.models import Case, IntegerField, Value, When

from annotate.learning.label_error import human_label_errors, rater_noise_of
from annotate.models import Label, LabelSource, Project, RaterBlock, Rating

Row = dict[str, object]

LABEL_COLUMNS = (
    "clip_id",
    "external_id",
    "speaker",
    "target",
    "value",
    "source",
    "standard_error",
    "confidence",
    "model_version",
    "n_ratings",
    "agreement",
    "created_at",
    "revoked_at",
)
RATING_FIXED_COLUMNS = ("rating_id", "clip_id", "external_id", "rater")
RATING_TAIL_COLUMNS = ("time_spent_ms", "source", "created_at")


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.JSON: "application/json",
}


def rater_pseudonym(*, rater_id: int, project_id: int) -> str:
    """A stable name for a rater within one project that does not reveal their id: an
    HMAC of both ids under SECRET_KEY (the same rater has another name in another
    project, so exports of two projects cannot be joined on raters)."""
    key = settings.SECRET_KEY.encode()
    digest = hmac.new(key, f"{project_id}:{rater_id}".encode(), hashlib.sha256).hexdigest()
    return f"rater-{digest[:16]}"


def _iso(moment: object) -> str | None:
    return None if moment is None else moment.isoformat()  # type: ignore[attr-defined]  # datetime


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _excluded_raters(project: Project) -> list[int]:
    """Raters blocked with their ratings excluded: their ratings are no part of a label."""
    return list(
        RaterBlock.objects.filter(project=project, exclude_ratings=True).values_list(
            "rater_id", flat=True
        )
    )


def label_rows(
    *, project: Project, include_revoked: bool = False, chunk_size: int = 2000
) -> Iterator[Row]:
    """One row per clip and target with a label (`LABEL_COLUMNS`), by clip id and the
    targets' order; only live labels unless `include_revoked`.

    Human labels carry the standard error of the label from the clip's ratings and its
    raters' noise (`human_label_errors`); machine labels their calibrated expected
    absolute error (`confidence`). Agreement is None below two ratings, where it says
    nothing.
    """
    targets = list(project.targets.all())
    position = Case(
        *[When(target=t.name, then=Value(i)) for i, t in enumerate(targets)],
        default=Value(len(targets)),
        output_field=IntegerField(),
    )
    labels = Label.objects.filter(clip__project=project)
    if not include_revoked:
        labels = labels.filter(revoked_at__isnull=True)
    fields = (
        "clip_id",
        "clip__external_id",
        "clip__speaker",
        "target",
        "value",
        "source",
        "confidence",
        "model_version",
        "n_ratings",
        "agreement",
        "created_at",
        "revoked_at",
    )
    rows = (
        labels.annotate(position=position)
        .order_by("clip_id", "position", "id")
        .values_list(*fields)
        .iterator(chunk_size=chunk_size)
    )
    noise = rater_noise_of(project)
    excluded = _excluded_raters(project)
    for batch in _chunks(rows, chunk_size):
        human_clips = {row[0] for row in batch if row[5] == LabelSource.HUMAN}
        ratings = (
            Rating.objects.filter(clip_id__in=human_clips)
            .exclude(rater_id__in=excluded)
            .values_list("clip_id", "rater_id", "values")
        )
        errors = human_label_errors(ratings=ratings, targets=targets, rater_noise=noise)
        for (
            clip_id,
            external_id,
            speaker,
            target,
            value,
            source,
            confidence,
            model_version,
            n_ratings,
            agreement,
            created_at,
            revoked_at,
        ) in batch:
            human = source == LabelSource.HUMAN
            yield {
                "clip_id": clip_id,
                "external_id": external_id,
                "speaker": speaker,
                "target": target,
                "value": value,
                "source": source,
                "standard_error": errors.get((clip_id, target)) if human else None,
                "confidence": None if human else confidence,
                "model_version": model_version or None,
                "n_ratings": n_ratings,
                "agreement": agreement if n_ratings >= 2 else None,
                "created_at": _iso(created_at),
                "revoked_at": _iso(revoked_at),
            }


def rating_columns(*, project: Project) -> list[str]:
    """The columns of `rating_rows`: one per target between the rater and the time spent
    (a target named like another column gets a `target_` prefix)."""
    reserved = {*RATING_FIXED_COLUMNS, *RATING_TAIL_COLUMNS}
    names = project.targets.values_list("name", flat=True)
    targets = [f"target_{name}" if name in reserved else name for name in names]
    return [*RATING_FIXED_COLUMNS, *targets, *RATING_TAIL_COLUMNS]


def rating_rows(
    *, project: Project, pseudonymise: bool = False, chunk_size: int = 2000
) -> Iterator[Row]:
    """One row per rating of the project (`rating_columns`), in the order given. The
    rater is their user id as text, or with `pseudonymise` a stable per-project pseudonym
    (`rater_pseudonym`)."""
    target_names = list(project.targets.values_list("name", flat=True))
    columns = rating_columns(project=project)
    target_columns = columns[len(RATING_FIXED_COLUMNS) : len(columns) - len(RATING_TAIL_COLUMNS)]
    pseudonyms: dict[int, str] = {}
    ratings = (
        Rating.objects.filter(clip__project=project)
        .order_by("id")
        .values_list(
            "id",
            "clip_id",
            "clip__external_id",
            "rater_id",
            "values",
            "time_spent_ms",
            "source",
            "created_at",
        )
        .iterator(chunk_size=chunk_size)
    )
    for rating_id, clip_id, external_id, rater_id, values, spent, source, created_at in ratings:
        rater = str(rater_id)  # text either way: one type in JSON for ids and pseudonyms
        if pseudonymise:
            if rater_id not in pseudonyms:
                pseudonyms[rater_id] = rater_pseudonym(rater_id=rater_id, project_id=project.pk)
            rater = pseudonyms[rater_id]
        row: Row = {
            "rating_id": rating_id,
            "clip_id": clip_id,
            "external_id": external_id,
            "rater": rater,
        }
        for column, name in zip(target_columns, target_names, strict=True):
            row[column] = values.get(name)
        row.update(time_spent_ms=spent, source=source, created_at=_iso(created_at))
        yield row


class _Line:
    """A file-like object whose write returns what was written, for csv.writer."""

    def write(self, text: str) -> str:
        return text


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> Iterator[str]:
    """The rows as CSV lines with a header; None becomes an empty field."""
    writer = csv.writer(_Line(), lineterminator="\n")
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow(["" if row[c] is None else row[c] for c in columns])


def json_lines(rows: Iterable[Mapping[str, object]]) -> Iterator[str]:
    """The rows as one JSON array of objects, one row per line (`pandas.read_json`
    loads it as records)."""
    yield "["
    separator = "\n"
    for row in rows:
        yield separator + json.dumps(row, allow_nan=False)
        separator = ",\n"
    yield "\n]\n"


def export_lines(
    *, fmt: ExportFormat, columns: Sequence[str], rows: Iterable[Mapping[str, object]]
) -> Iterator[str]:
    return csv_lines(columns, rows) if fmt == ExportFormat.CSV else json_lines(rows)


def labels_export(
    *, project: Project, fmt: ExportFormat, include_revoked: bool = False
) -> Iterator[str]:
    """The project's labels (`label_rows`) as CSV or JSON text, chunk by chunk."""
    rows = label_rows(project=project, include_revoked=include_revoked)
    return export_lines(fmt=fmt, columns=LABEL_COLUMNS, rows=rows)


def ratings_export(
    *, project: Project, fmt: ExportFormat, pseudonymise: bool = False
) -> Iterator[str]:
    """The project's ratings (`rating_rows`) as CSV or JSON text, chunk by chunk."""
    rows = rating_rows(project=project, pseudonymise=pseudonymise)
    return export_lines(fmt=fmt, columns=rating_columns(project=project), rows=rows)


def export_write(lines: Iterable[str], out: IO[str], *, fmt: ExportFormat) -> int:
    """Write an export to an open text file; returns the number of rows written."""
    chunks = 0
    for line in lines:
        out.write(line)
        chunks += 1
    # Each row is one chunk, around a CSV header or a JSON array's two brackets.
    return chunks - (1 if fmt == ExportFormat.CSV else 2)
