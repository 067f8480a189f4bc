"""Reading a corpus folder in the shared corpus format (see `../shared/data/README.md`).

A corpus is a folder with `clips.csv`, one row per clip, and the audio files it names;
an optional `ratings.csv` holds one row per rater and clip. The one reader of both files
for the learner (`learner.simulate.load_corpus`) and the platform's importer:

    rows = read_clips_csv(root)            # list of {column: text}, in file order
    targets = gold_targets(rows)           # the target columns the corpus fills in
    if ratings_csv_path(root).is_file():   # ratings.csv is optional
        for line, row in read_ratings_csv(root):
            ...                            # `line`: for messages, "ratings.csv line 7"

Both readers return every cell as text, exactly as in the file ("" for an empty cell or
a short row); turning text into numbers, and what an unusable value means, is the
caller's choice. Files are read as UTF-8 (a leading byte-order mark is ignored).
They raise, with the file's path in the message:
- FileNotFoundError if the file is missing;
- ValueError if the header lacks a required column (clips.csv: clip_id and path;
  ratings.csv: clip_id and rater_id), if the file is empty, or if a row has more cells
  than the header.
Rows are not checked further: empty or repeated clip ids, paths that name no file and
values off the scale are the caller's to report.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

CLIPS_CSV = "clips.csv"
RATINGS_CSV = "ratings.csv"
CLIP_COLUMNS = ("clip_id", "path")
RATING_COLUMNS = ("clip_id", "rater_id")
TARGETS = ("arousal", "valence", "dominance")  # the format's target columns, in this order


def clips_csv_path(root: str | Path) -> Path:
    """Where a corpus folder's clips.csv is (whether or not it exists)."""
    return Path(root) / CLIPS_CSV


def ratings_csv_path(root: str | Path) -> Path:
    """Where a corpus folder's optional ratings.csv is (whether or not it exists)."""
    return Path(root) / RATINGS_CSV


def read_clips_csv(root: str | Path) -> list[dict[str, str]]:
    """The rows of `root`/clips.csv in file order, each a {column: text} dict.

    Raises FileNotFoundError if the folder has no clips.csv, ValueError if its header
    lacks clip_id or path (or a row has more cells than the header). A header without
    rows is an empty corpus: [].
    """
    return [row for _, row in _read(clips_csv_path(root), CLIP_COLUMNS)]


def read_ratings_csv(root: str | Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of `root`/ratings.csv in file order, as (line number, {column: text}).

    The line number is the file's line where the row ends (the header is line 1; blank
    lines are skipped but counted), for messages such as "ratings.csv line 7: ...".
    Raises FileNotFoundError if there is no ratings.csv (it is optional: check
    `ratings_csv_path(root).is_file()` first), ValueError if its header lacks clip_id or
    rater_id (or a row has more cells than the header).
    """
    return _read(ratings_csv_path(root), RATING_COLUMNS)


def gold_targets(rows: Sequence[dict[str, str]]) -> tuple[str, ...]:
    """The targets, in `TARGETS` order, whose gold column some row of clips.csv fills in
    (a column that is absent or empty throughout names no target)."""
    return tuple(t for t in TARGETS if any(row.get(t) for row in rows))


def _read(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent} has no {path.name}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, restval="")
        if reader.fieldnames is None:
            raise ValueError(f"{path} is empty: it needs a header with {', '.join(required)}")
        missing = [column for column in required if column not in reader.fieldnames]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}")
        rows = []
        for row in reader:
            if None in row:
                raise ValueError(
                    f"{path.name} line {reader.line_num} has more cells than the header"
                )
            rows.append((reader.line_num, row))
    return rows
