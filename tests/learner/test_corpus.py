import pytest

from learner.corpus import (
    gold_targets,
    ratings_csv_path,
    read_clips_csv,
    read_ratings_csv,
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
