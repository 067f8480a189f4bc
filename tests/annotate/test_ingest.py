"""Audio in: every format decoded once to 16 kHz mono; bad files named, nothing half-stored."""

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.management import call_command

from annotate.audio import AudioError, decode
from annotate.models import Clip, Label, Project, Rating, ReferenceLabel
from annotate.services.ingest import corpus_import, files_import, project_get_or_create

pytestmark = pytest.mark.django_db


def write_tone(path: Path, *, sr=48000, seconds=1.0, channels=2, fmt=None, freq=330.0):
    t = np.arange(int(sr * seconds)) / sr
    signal = 0.4 * np.sin(2 * np.pi * freq * t)
    data = np.column_stack([signal] * channels) if channels > 1 else signal
    sf.write(path, data, sr, format=fmt)
    return path


@pytest.mark.parametrize(
    ("suffix", "fmt", "sr"),
    [
        (".wav", "WAV", 44100),
        (".flac", "FLAC", 48000),
        (".ogg", "OGG", 48000),
        (".mp3", "MP3", 44100),
    ],
)
def test_every_format_becomes_16k_mono(tmp_path, suffix, fmt, sr):
    path = write_tone(tmp_path / f"x{suffix}", sr=sr, fmt=fmt)
    clip = decode(path.read_bytes(), max_seconds=600)
    audio, out_sr = sf.read(io.BytesIO(clip.wav_bytes))
    assert out_sr == 16000
    assert audio.ndim == 1
    assert clip.original_sample_rate == sr
    assert clip.original_channels == 2
    assert clip.duration_s == pytest.approx(1.0, abs=0.06)  # mp3 pads a frame
    assert 0 < len(clip.peaks) <= 400
    assert max(clip.peaks) == 1.0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is text, not audio" * 10, "not a readable audio file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20, "not a readable audio file"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(content, reason):
    with pytest.raises(AudioError, match=reason):
        decode(content, max_seconds=600)


def test_too_long_is_refused_before_decoding(tmp_path):
    path = write_tone(tmp_path / "long.wav", seconds=3.0, sr=8000, channels=1)
    with pytest.raises(AudioError, match=r"too long: 3\.0 s \(the limit is 2 s\)"):
        decode(path.read_bytes(), max_seconds=2)


def test_a_batch_takes_the_good_files_and_names_the_bad_ones(tmp_path, media_root, settings):
    settings.CONCORD_MAX_CLIP_SECONDS = 2
    good = [write_tone(tmp_path / f"good{i}.wav", freq=200 + 50 * i, channels=1) for i in range(3)]
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    truncated = tmp_path / "broken.flac"
    truncated.write_bytes(write_tone(tmp_path / "whole.flac", fmt="FLAC").read_bytes()[:200])
    (tmp_path / "whole.flac").unlink()
    write_tone(tmp_path / "long.wav", seconds=3.0, channels=1)
    project = project_get_or_create(name="p")
    paths = [
        *good,
        tmp_path / "empty.wav",
        tmp_path / "notes.txt",
        truncated,
        tmp_path / "long.wav",
        tmp_path / "missing.wav",
    ]
    report = files_import(project=project, paths=paths)
    assert len(report.created) == 3
    reasons = dict(report.errors)
    assert set(reasons) == {str(p) for p in paths[3:]}
    assert "empty" in reasons[str(tmp_path / "empty.wav")]
    assert "too long" in reasons[str(tmp_path / "long.wav")]
    assert "no such file" in reasons[str(tmp_path / "missing.wav")]
    assert Clip.objects.count() == 3
    stored = sorted(p.name for p in Path(media_root).rglob("*.wav"))
    assert len(stored) == 3  # nothing of the refused files on disk
    clip = Clip.objects.first()
    assert clip.state == "awaiting_humans"
    assert clip.ratings_wanted == project.min_raters


def test_reimport_and_duplicates_are_skipped_not_doubled(tmp_path, media_root):
    src = tmp_path / "src"
    src.mkdir()
    a = write_tone(src / "a.wav", channels=1)
    (src / "copy.wav").write_bytes(a.read_bytes())
    project = project_get_or_create(name="p")
    first = files_import(project=project, paths=[src])
    assert len(first.created) == 1
    assert "same audio as clip" in first.skipped[0][1]
    again = files_import(project=project, paths=[src])
    assert again.created == []
    assert len(again.skipped) == 2
    assert Clip.objects.count() == 1


def write_corpus(root: Path, *, ratings=True) -> Path:
    (root / "audio").mkdir(parents=True)
    rows = []
    for i in range(4):
        write_tone(root / "audio" / f"c{i}.flac", fmt="FLAC", freq=150 + 40 * i, sr=22050)
        rows.append(
            {
                "clip_id": f"c{i}",
                "path": f"audio/c{i}.flac",
                "speaker": f"s{i % 2}",
                "gender": "female",
                "language": "en",
                "category": "anger",
                "intensity": "1.0",
                "valence": "-0.51",
                "arousal": "0.59",
                "agreement": "0.9",
                "duration_s": "1.0",
                "sample_rate": "22050",
                "channels": "2",
                "sha256": "x",
            }
        )
    with (root / "clips.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if ratings:
        (root / "ratings.csv").write_text(
            "clip_id,rater_id,arousal,valence\n"
            "c0,ann,0.5,-0.4\nc0,bob,0.7,-0.6\nc1,ann,0.2,0.1\n"
            "c9,ann,0.1,0.1\nc2,bob,7,0\n"
        )
    return root


def test_corpus_import_keeps_ids_metadata_references_and_ratings(tmp_path, media_root):
    report = corpus_import(corpus_dir=write_corpus(tmp_path / "corpus"), project_name="corp")
    project = Project.objects.get(name="corp")
    assert [t.name for t in project.targets.all()] == ["arousal", "valence"]
    assert len(report.created) == 4
    clip = Clip.objects.get(external_id="c0")
    assert (clip.speaker, clip.gender, clip.language) == ("s0", "female", "en")
    assert clip.metadata == {"category": "anger", "intensity": "1.0", "agreement": "0.9"}
    assert ReferenceLabel.objects.get(clip=clip, target="arousal").value == pytest.approx(0.59)
    assert report.ratings == 3
    assert Rating.objects.filter(clip=clip).count() == 2
    assert Label.objects.get(clip=clip, target="arousal").value == pytest.approx(0.6)
    clip.refresh_from_db()
    assert clip.n_ratings == 2
    problems = dict(report.errors)
    assert "unknown clip_id 'c9'" in problems["ratings.csv line 5"]
    assert "arousal='7'" in problems["ratings.csv line 6"]
    again = corpus_import(corpus_dir=tmp_path / "corpus", project_name="corp")
    assert again.created == []
    assert again.ratings == 0
    assert Rating.objects.count() == 3


def test_import_corpus_command_reports_and_exits_2_on_errors(tmp_path, media_root, capsys):
    corpus = write_corpus(tmp_path / "corpus", ratings=False)
    (corpus / "audio" / "c3.flac").write_bytes(b"garbage")
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_corpus", str(corpus), project="cmd", verbosity=0)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "3 clips imported" in captured.out
    assert "audio/c3.flac" in captured.err


def test_import_audio_command_takes_folders(tmp_path, media_root, capsys):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    write_tone(src / "one.wav", channels=1)
    write_tone(src / "sub" / "two.ogg", fmt="OGG", freq=500)
    call_command("import_audio", str(src), project="bare", verbosity=0)
    assert Clip.objects.filter(project__name="bare").count() == 2
    assert "2 clips imported" in capsys.readouterr().out
