"""Feature extraction speed, in times real time per core, from file to feature vector.

    python -m bench.bench_features [--corpus ../shared/data/emodb] [--n 100]
        [--extractors librosa egemaps compare]

Runs single-threaded (one core) on the first N files of a corpus in the shared format
(or synthetic clips it writes when none is given and ../shared/data is absent), for each
named extractor (learner.features.EXTRACTORS; default: the librosa default and openSMILE
eGeMAPS) on the same files.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import csv
import tempfile
import time
from pathlib import Path

import soundfile as sf

from bench.machine import describe
from learner.features import EXTRACTORS, get_extractor

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"


def corpus_files(corpus: Path | None, n: int) -> list[Path]:
    if corpus is None or not (corpus / "clips.csv").is_file():
        from annotate.synthetic import corpus_write

        corpus = corpus_write(Path(tempfile.mkdtemp()) / "synthetic", n_clips=n)
    with (corpus / "clips.csv").open() as handle:
        return [corpus / row["path"] for row in list(csv.DictReader(handle))[:n]]


def measure(name: str, files: list[Path]) -> tuple[float, float]:
    extractor = get_extractor(name)
    audio, sr = sf.read(files[0], dtype="float32")
    extractor.extract(audio, sr)  # warm-up: imports, JIT
    seconds_of_audio = 0.0
    started = time.process_time()
    for path in files:
        audio, sr = sf.read(path, dtype="float32")
        seconds_of_audio += len(audio) / sr
        extractor.extract(audio, sr)
    cpu = time.process_time() - started
    return seconds_of_audio, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument(
        "--extractors", nargs="+", choices=list(EXTRACTORS), default=["librosa", "egemaps"]
    )
    args = parser.parse_args()
    files = corpus_files(args.corpus, args.n)
    print(describe())
    print()
    print(f"{len(files)} files from {files[0].parent.parent.name}")
    print()
    print("| extractor | audio s | CPU s | x real time per core |")
    print("|---|---|---|---|")
    for name in args.extractors:
        audio_s, cpu_s = measure(name, files)
        print(f"| {name} | {audio_s:.1f} | {cpu_s:.2f} | {audio_s / cpu_s:.0f} |")


if __name__ == "__main__":
    main()
