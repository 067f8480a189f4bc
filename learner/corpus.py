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

Views of a corpus (issue 14): `natural_subset(rows, emotions_per_speaker=1, random_state=0)`
keeps, per speaker, the clips of one or two categories, as in natural recordings, and
`write_corpus_view(rows, source_root, out_dir)` writes them as a corpus folder whose audio
files are symbolic links to the source's (`python -m bench.natural_corpus`).
"""

import csv
import random
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


def natural_subset(
    rows: Sequence[dict[str, str]], *, emotions_per_speaker: int, random_state: int
) -> list[dict[str, str]]:
    """The rows of a natural-speech view of an acted corpus: each speaker keeps the clips of
    `emotions_per_speaker` of their categories and loses the others (rows in file order).

    Acted corpora have every speaker perform every emotion; in natural recordings most
    speakers carry one or two, which is what this view imitates. The rule, deterministic
    for a given `random_state` (rows' order matters only through the speakers' order):
    - the speakers (the `speaker` column; a missing column is one speaker "") are taken in
      a seeded random order;
    - each speaker keeps the `emotions_per_speaker` of their categories that the fewest
      earlier speakers kept, ties broken by a seeded random order of the categories drawn
      anew for each speaker; a speaker with fewer categories keeps all of them.
    So the categories stay as balanced across speakers as the speakers allow, and every
    category of the corpus is kept by some speaker when there are at least as many
    (speaker, kept category) slots as categories and every speaker has every category.
    Raises ValueError if `emotions_per_speaker` < 1.
    """
    if emotions_per_speaker < 1:
        raise ValueError(f"emotions_per_speaker must be at least 1, not {emotions_per_speaker}")
    rng = random.Random(random_state)
    categories_of: dict[str, list[str]] = {}
    for row in rows:
        speaker_categories = categories_of.setdefault(row.get("speaker", ""), [])
        if row.get("category", "") not in speaker_categories:
            speaker_categories.append(row.get("category", ""))
    speakers = sorted(categories_of)
    rng.shuffle(speakers)
    kept_by = {category: 0 for cats in categories_of.values() for category in cats}
    keep: dict[str, set[str]] = {}
    for speaker in speakers:
        candidates = sorted(categories_of[speaker])
        rng.shuffle(candidates)
        candidates.sort(key=lambda category: kept_by[category])  # stable: ties stay shuffled
        keep[speaker] = set(candidates[:emotions_per_speaker])
        for category in keep[speaker]:
            kept_by[category] += 1
    return [dict(row) for row in rows if row.get("category", "") in keep[row.get("speaker", "")]]


def write_corpus_view(
    rows: Sequence[dict[str, str]], source_root: str | Path, out_dir: str | Path
) -> Path:
    """Write a corpus folder `out_dir` that shows `rows` of the corpus at `source_root`.

    `out_dir`/clips.csv holds `rows` (columns of the first row, in its order; the source
    header when `rows` is empty); each row's audio `path` becomes a symbolic link, at the
    same relative path, to the source's file (resolved to an absolute path), so no audio is
    copied. If the source has a ratings.csv, `out_dir`/ratings.csv holds its rows of the
    kept clips only. Links and files already in `out_dir` are replaced. Raises
    FileNotFoundError if a row's audio file is missing, ValueError for a path that leaves
    the corpus folder. Returns `out_dir` as a Path.
    """
    source = Path(source_root).resolve()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        relative = Path(row["path"])
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"clip {row['clip_id']}: path {row['path']!r} leaves the corpus")
        target = source / relative
        if not target.is_file():
            raise FileNotFoundError(f"clip {row['clip_id']}: {target} is missing")
        link = out / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    fields = list(rows[0]) if rows else _header(clips_csv_path(source))
    _write(clips_csv_path(out), fields, rows)
    if ratings_csv_path(source).is_file():
        kept = {row["clip_id"] for row in rows}
        ratings = [row for _, row in read_ratings_csv(source) if row["clip_id"] in kept]
        _write(ratings_csv_path(out), _header(ratings_csv_path(source)), ratings)
    elif ratings_csv_path(out).is_file():
        ratings_csv_path(out).unlink()
    return out


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _write(path: Path, fields: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
