"""Build a natural-speech view of an acted corpus: each speaker keeps one or two emotions.

    python -m bench.natural_corpus --corpus ../shared/data/emodb \
        --out var/corpora/emodb-natural1 --emotions-per-speaker 1 [--seed 0]

Writes OUT/clips.csv with the kept clips and symbolic links to the source's audio (and,
if the source has ratings.csv, its rows of the kept clips); the rule is
`learner.corpus.natural_subset`'s. Prints, per speaker, the categories kept.
"""

import argparse
from collections import Counter
from pathlib import Path

from learner.corpus import natural_subset, read_clips_csv, write_corpus_view


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--emotions-per-speaker", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = read_clips_csv(args.corpus)
    kept = natural_subset(
        rows, emotions_per_speaker=args.emotions_per_speaker, random_state=args.seed
    )
    write_corpus_view(kept, args.corpus, args.out)
    per_speaker: dict[str, Counter[str]] = {}
    for row in kept:
        per_speaker.setdefault(row.get("speaker", ""), Counter())[row.get("category", "")] += 1
    lines = [
        f"{args.out}: {len(kept)} of {len(rows)} clips, {len(per_speaker)} speakers, "
        f"{len({row.get('category', '') for row in kept})} categories "
        f"(seed {args.seed}, {args.emotions_per_speaker} per speaker)"
    ]
    for speaker in sorted(per_speaker):
        counts = ", ".join(f"{c} {n}" for c, n in sorted(per_speaker[speaker].items()))
        lines.append(f"  speaker {speaker}: {counts}")
    report = "\n".join(lines)
    print(report)
    return report


if __name__ == "__main__":
    main()
