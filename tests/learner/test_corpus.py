from collections import Counter

import pytest

from learner.corpus import (
    gold_targets,
    natural_subset,
    ratings_csv_path,
    read_clips_csv,
    read_ratings_csv,
    write_corpus_view,
)
from learner.simulate import load_corpus
from tests.conftest import shared_corpus


def write(root, clips, ratings=None):
    root.mkdir(parents=True, exist_ok=True)
    (root / "clips.csv").write_text(clips, encoding="utf-8")
    if ratings is not None:
        (root / "ratings.csv").write_text(ratings, encoding="utf-8")
    return root


def test_clips_are_rows_of_text_in_file_order(tmp_path):
    root = write(tmp_path, "\ufeffclip_id,path,arousal,valence\nb,b.wav,0.5,\na,a.wav,,\nc,c.wav\n")
    rows = read_clips_csv(root)
    assert [r["clip_id"] for r in rows] == ["b", "a", "c"]  # a byte-order mark is ignored
    assert rows[0] == {"clip_id": "b", "path": "b.wav", "arousal": "0.5", "valence": ""}
    assert rows[2]["arousal"] == ""  # a short row's missing cells are empty
    assert gold_targets(rows) == ("arousal",)  # valence is never filled in


def test_a_header_alone_is_an_empty_corpus(tmp_path):
    assert read_clips_csv(write(tmp_path, "clip_id,path\n")) == []


def test_unusable_clips_csv_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"has no clips\.csv"):
        read_clips_csv(tmp_path)
    with pytest.raises(ValueError, match=r"clips\.csv lacks the column\(s\) path"):
        read_clips_csv(write(tmp_path / "a", "clip_id,file\nc0,c0.wav\n"))
    with pytest.raises(ValueError, match="is empty"):
        read_clips_csv(write(tmp_path / "b", ""))
    with pytest.raises(ValueError, match=r"clips\.csv line 3 has more cells than the header"):
        read_clips_csv(write(tmp_path / "c", "clip_id,path\nc0,c0.wav\nc1,c1.wav,extra\n"))


def test_ratings_come_with_their_line_numbers(tmp_path):
    root = write(
        tmp_path,
        "clip_id,path\nc0,c0.wav\n",
        'clip_id,rater_id,arousal\nc0,ann,0.5\n\nc0,bob,"0.7"\nc9,ann,x\n',
    )
    assert ratings_csv_path(root).is_file()
    assert read_ratings_csv(root) == [
        (2, {"clip_id": "c0", "rater_id": "ann", "arousal": "0.5"}),
        (4, {"clip_id": "c0", "rater_id": "bob", "arousal": "0.7"}),  # line 3 is blank
        (5, {"clip_id": "c9", "rater_id": "ann", "arousal": "x"}),  # values are not judged
    ]


def test_unusable_ratings_csv_is_named(tmp_path):
    root = write(tmp_path, "clip_id,path\nc0,c0.wav\n")
    assert not ratings_csv_path(root).is_file()
    with pytest.raises(FileNotFoundError, match=r"has no ratings\.csv"):
        read_ratings_csv(root)
    write(root, "clip_id,path\nc0,c0.wav\n", "clip_id,arousal\nc0,0.5\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) rater_id"):
        read_ratings_csv(root)
    with pytest.raises(ValueError, match="lacks the column"):
        load_corpus(root)


def test_load_corpus_reads_a_shared_corpus():
    root = shared_corpus("emodb")
    corpus = load_corpus(root)
    rows = read_clips_csv(root)
    assert corpus.clip_ids == [r["clip_id"] for r in rows]
    assert corpus.targets == ("arousal", "valence", "dominance")
    assert corpus.gold.shape == (len(rows), 3)
    assert not corpus.ratings  # no ratings.csv: a simulated crowd


CATEGORIES = ("anger", "happiness", "neutral", "sadness")


def acted_corpus(root, speakers=6, clips_per_category=2, ratings=True):
    """Every speaker performs every category, as in EmoDB and RAVDESS; tiny audio files."""
    (root / "audio").mkdir(parents=True)
    lines = ["clip_id,path,speaker,category"]
    rating_lines = ["clip_id,rater_id,arousal"]
    for s in range(speakers):
        for category in CATEGORIES:
            for n in range(clips_per_category):
                clip = f"s{s}{category[:3]}{n}"
                (root / "audio" / f"{clip}.wav").write_bytes(clip.encode())
                lines.append(f"{clip},audio/{clip}.wav,s{s},{category}")
                rating_lines += [f"{clip},ann,0.1", f"{clip},bob,0.2"]
    write(root, "\n".join(lines) + "\n", "\n".join(rating_lines) + "\n" if ratings else None)
    return root


def categories_by_speaker(rows):
    kept = {}
    for row in rows:
        kept.setdefault(row["speaker"], set()).add(row["category"])
    return kept


@pytest.mark.parametrize("k", [1, 2])
def test_natural_subset_keeps_k_balanced_categories_per_speaker(tmp_path, k):
    rows = read_clips_csv(acted_corpus(tmp_path))
    kept = natural_subset(rows, emotions_per_speaker=k, random_state=0)
    by_speaker = categories_by_speaker(kept)
    assert sorted(by_speaker) == [f"s{s}" for s in range(6)]
    assert all(len(cats) == k for cats in by_speaker.values())
    # 6 speakers x k slots over 4 categories: every category, counts differing by at most 1
    uses = Counter(c for cats in by_speaker.values() for c in cats)
    assert set(uses) == set(CATEGORIES)
    assert max(uses.values()) - min(uses.values()) <= 1
    # a kept category keeps all of the speaker's clips of it, in file order, unchanged
    expected = [r for r in rows if r["category"] in by_speaker[r["speaker"]]]
    assert kept == expected


def test_natural_subset_is_deterministic_and_seeded(tmp_path):
    rows = read_clips_csv(acted_corpus(tmp_path, speakers=10))
    draws = [
        categories_by_speaker(natural_subset(rows, emotions_per_speaker=1, random_state=seed))
        for seed in (0, 0, 1, 2, 3)
    ]
    assert draws[0] == draws[1]
    assert any(draw != draws[0] for draw in draws[2:])


def test_natural_subset_keeps_all_of_a_speaker_with_too_few_categories(tmp_path):
    rows = [
        {"clip_id": "a", "path": "a.wav", "speaker": "x", "category": "anger"},
        {"clip_id": "b", "path": "b.wav", "speaker": "y", "category": "anger"},
        {"clip_id": "c", "path": "c.wav", "speaker": "y", "category": "sadness"},
    ]
    assert natural_subset(rows, emotions_per_speaker=2, random_state=0) == rows
    # when x comes first, y keeps sadness (anger is kept already); else y draws at random
    for seed in range(5):
        kept = natural_subset(rows, emotions_per_speaker=1, random_state=seed)
        assert {r["speaker"]: r["category"] for r in kept} in (
            {"x": "anger", "y": "sadness"},
            {"y": "anger", "x": "anger"},
        )
    with pytest.raises(ValueError, match="at least 1"):
        natural_subset(rows, emotions_per_speaker=0, random_state=0)


def test_corpus_view_links_audio_and_keeps_ratings_of_kept_clips(tmp_path):
    source = acted_corpus(tmp_path / "acted")
    kept = natural_subset(read_clips_csv(source), emotions_per_speaker=1, random_state=0)
    out = write_corpus_view(kept, source, tmp_path / "view")
    assert read_clips_csv(out) == kept
    for row in kept:
        link = out / row["path"]
        assert link.is_symlink()
        assert link.resolve() == (source / row["path"]).resolve()
        assert link.read_bytes() == row["clip_id"].encode()
    assert len(list((out / "audio").iterdir())) == len(kept)  # dropped clips are not linked
    ratings = [row for _, row in read_ratings_csv(out)]
    assert {r["clip_id"] for r in ratings} == {r["clip_id"] for r in kept}
    assert len(ratings) == 2 * len(kept)
    assert load_corpus(out).speakers is not None  # the learner reads the view
    # written again over itself (another seed), without a ratings.csv in the source
    source2 = acted_corpus(tmp_path / "acted2", ratings=False)
    kept2 = natural_subset(read_clips_csv(source2), emotions_per_speaker=2, random_state=1)
    write_corpus_view(kept2, source2, out)
    assert read_clips_csv(out) == kept2
    assert not ratings_csv_path(out).exists()


def test_corpus_view_refuses_missing_audio_and_escaping_paths(tmp_path):
    source = acted_corpus(tmp_path / "acted", speakers=1)
    rows = read_clips_csv(source)
    with pytest.raises(FileNotFoundError, match="is missing"):
        write_corpus_view([{**rows[0], "path": "audio/none.wav"}], source, tmp_path / "v")
    with pytest.raises(ValueError, match="leaves the corpus"):
        write_corpus_view([{**rows[0], "path": "../x.wav"}], source, tmp_path / "w")


def test_natural_view_of_a_shared_corpus(tmp_path):
    source = shared_corpus("emodb")
    rows = read_clips_csv(source)
    kept = natural_subset(rows, emotions_per_speaker=1, random_state=0)
    by_speaker = categories_by_speaker(kept)
    assert len(by_speaker) == len({r["speaker"] for r in rows})
    assert all(len(cats) == 1 for cats in by_speaker.values())
    assert {r["category"] for r in kept} == {r["category"] for r in rows}
    out = write_corpus_view(kept, source, tmp_path / "emodb-natural1")
    assert all((out / r["path"]).resolve().is_file() for r in kept)
