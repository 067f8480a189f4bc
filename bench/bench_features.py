"""Feature extraction speed, in times real time per core, from file to feature row.

    python -m bench.bench_features [--corpus ../shared/data/emodb ...] [--n 100]
        [--extractors librosa egemaps compare]

Runs single-threaded (one core) on the first N files of each corpus in the shared format
(or synthetic clips it writes when none is given and ../shared/data is absent), for each
named extractor (learner.features.EXTRACTORS; default: the librosa default and openSMILE
eGeMAPS) on the same files. Per clip it does what a worker does
(annotate.services.features.clip_features_extract): decode the file, extract, and store
the row as little-endian float32 bytes in its own transaction; here the store is an
SQLite table in a temporary file (in-process, so its CPU counts; the platform's
PostgreSQL does the same work in the database server). Reports, per corpus and
extractor, CPU and wall seconds for file to vector and file to stored row, CPU ms per
second of audio, times real time per core, and the fit `CPU per clip = fixed + per
second x duration` (least squares over the clips), which says how short a clip may be
before an extractor falls under 50x real time.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import csv
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.machine import describe
from learner.features import EXTRACTORS, get_extractor

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"
REAL_TIME_TARGET = 50.0  # times real time per core the default extractor must reach


def corpus_files(corpus: Path | None, n: int) -> list[Path]:
    if corpus is None or not (corpus / "clips.csv").is_file():
        from annotate.synthetic import corpus_write

        corpus = corpus_write(Path(tempfile.mkdtemp()) / "synthetic", n_clips=n)
    with (corpus / "clips.csv").open() as handle:
        return [corpus / row["path"] for row in list(csv.DictReader(handle))[:n]]


@dataclass
class Timing:
    """Totals over the files of one corpus and extractor, and CPU and duration per clip."""

    audio_s: float = 0.0
    vector_cpu: float = 0.0
    vector_wall: float = 0.0
    row_cpu: float = 0.0
    row_wall: float = 0.0
    durations: list[float] = field(default_factory=list)
    clip_cpu: list[float] = field(default_factory=list)

    def fixed_and_per_second(self) -> tuple[float, float]:
        """Least-squares `CPU per clip = fixed + per_second x duration` (seconds)."""
        A = np.column_stack([np.ones(len(self.durations)), self.durations])
        (fixed, per_second), *_ = np.linalg.lstsq(A, np.array(self.clip_cpu), rcond=None)
        return float(fixed), float(per_second)


def measure(name: str, files: list[Path], db: sqlite3.Connection) -> Timing:
    extractor = get_extractor(name)
    audio, sr = sf.read(files[0], dtype="float32")
    extractor.extract(audio, sr)  # warm-up: imports, JIT
    table = f"features_{name}"
    db.execute(f"CREATE TABLE {table} (clip INTEGER PRIMARY KEY, n INTEGER, v BLOB)")
    timing = Timing()
    for clip, path in enumerate(files):
        cpu, wall = time.process_time(), time.perf_counter()
        audio, sr = sf.read(path, dtype="float32")
        values = np.asarray(extractor.extract(audio, sr), dtype="<f4")
        vector_cpu, vector_wall = time.process_time() - cpu, time.perf_counter() - wall
        with db:  # one transaction per clip, as the worker's
            db.execute(
                f"INSERT INTO {table} VALUES (?, ?, ?)", (clip, values.size, values.tobytes())
            )
        timing.row_cpu += time.process_time() - cpu
        timing.row_wall += time.perf_counter() - wall
        timing.vector_cpu += vector_cpu
        timing.vector_wall += vector_wall
        timing.audio_s += len(audio) / sr
        timing.durations.append(len(audio) / sr)
        timing.clip_cpu.append(vector_cpu)
    return timing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument(
        "--extractors", nargs="+", choices=list(EXTRACTORS), default=["librosa", "egemaps"]
    )
    args = parser.parse_args(argv)
    print(describe(), f"load average {os.getloadavg()[0]:.2f} at start", sep="; ")
    print()
    print(
        "| corpus | extractor | clips | audio s | file to vector: CPU s / wall s | "
        "file to stored row: CPU s / wall s | CPU ms per s of audio | "
        "x real time per core (row, CPU) | fixed CPU ms per clip + ms per s | "
        f"shortest clip at {REAL_TIME_TARGET:.0f}x |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "rows.sqlite3")
        for corpus in args.corpus or [DEFAULT_CORPUS]:
            files = corpus_files(corpus, args.n)
            for name in args.extractors:
                db.execute(f"DROP TABLE IF EXISTS features_{name}")
                t = measure(name, files, db)
                fixed, per_second = t.fixed_and_per_second()
                # fixed + per_second x D <= D / target  <=>  D >= fixed / (1/target - per_second)
                margin = 1.0 / REAL_TIME_TARGET - per_second
                shortest = f"{fixed / margin:.1f} s" if margin > 0 else "never"
                print(
                    f"| {files[0].parent.parent.name} | {name} | {len(files)} | {t.audio_s:.1f} | "
                    f"{t.vector_cpu:.2f} / {t.vector_wall:.2f} | {t.row_cpu:.2f} / "
                    f"{t.row_wall:.2f} | {1000 * t.row_cpu / t.audio_s:.1f} | "
                    f"{t.audio_s / t.row_cpu:.0f} | {1000 * fixed:.1f} + "
                    f"{1000 * per_second:.1f} | {shortest} |",
                    flush=True,
                )
        db.close()


if __name__ == "__main__":
    main()
