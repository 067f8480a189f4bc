"""Hostile input (issue 16, must-have 4): uploads and rating bodies.

Every hostile file or body gets a clear 4xx in the API's `{"detail", "code"}` shape and
stores nothing; decoding stays bounded in memory and time whatever a header claims; a
batch takes each file on its own and its report lists exactly what went in; the rater
loop works afterwards.

This module imports nothing of Django at the top: its `_dying_decode_file` is run by
decoding worker processes, which import the module without Django set up.
"""

import io
import json
import os
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from annotate.audio import decode_file
from tests.conftest import make_clips, make_project, make_user

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


# --- hostile files, written here --------------------------------------------------------


def tone(sr=16000, seconds=1.0, channels=1, fmt="WAV", freq=330.0, subtype=None) -> bytes:
    t = np.arange(int(sr * seconds)) / sr
    signal = 0.3 * np.sin(2 * np.pi * freq * t)
    data = np.column_stack([signal * (1 + c / 10) for c in range(channels)])
    buffer = io.BytesIO()
    sf.write(buffer, data, sr, format=fmt, subtype=subtype)
    return buffer.getvalue()


def silent_flac(path: Path, *, sr: int, channels: int, seconds: int) -> Path:
    """A long silent FLAC written a second at a time: a few MB that decode to GBs."""
    block = np.zeros((sr, channels), dtype=np.int16)
    with sf.SoundFile(
        path, "w", samplerate=sr, channels=channels, format="FLAC", subtype="PCM_16"
    ) as f:
        for _ in range(seconds):
            f.write(block)
    return path


def flac_claiming(*, sr: int, channels: int, seconds: float) -> bytes:
    """A FLAC whose STREAMINFO (sample rate, channels, length) is the review's bomb's
    (8 channels, 655,350 Hz, 590 s) while it holds a tenth of a second: the header is
    all that decides, since it is refused before a sample is decoded."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((sr // 10, channels), dtype=np.int16), sr, format="FLAC")
    data = bytearray(buffer.getvalue())
    assert data[:4] == b"fLaC"
    assert data[4] & 0x7F == 0
    info = 8  # 4 bytes magic + 4 bytes block header
    # Bytes 10..17 of STREAMINFO: 20 bits rate, 3 bits channels-1, 5 bits bps-1, 36 bits
    # total samples.
    packed = int.from_bytes(data[info + 10 : info + 18], "big")
    packed &= ~((1 << 36) - 1)
    packed |= int(sr * seconds)
    data[info + 10 : info + 18] = packed.to_bytes(8, "big")
    return bytes(data)


def wav_claiming_more_frames(seconds_claimed: float = 500.0) -> bytes:
    data = bytearray(tone(seconds=1.0))
    at = data.index(b"data")
    struct.pack_into("<I", data, at + 4, int(16000 * 2 * seconds_claimed))
    return bytes(data)


def named(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def upload(client, project, files, **extra):
    return client.post(
        f"/api/v1/projects/{project.pk}/clips/", {"file": files}, format="multipart", **extra
    )


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body


def stored_wavs(media_root) -> list[Path]:
    return sorted(Path(media_root).rglob("*.wav")) if Path(media_root).exists() else []


# --- 1. decoding is bounded whatever the header claims ----------------------------------

HOSTILE = {
    "empty.wav": (b"", "empty"),
    "random.wav": (np.random.default_rng(16).bytes(40_000), "not a readable audio file"),
    "text.flac": (b"this is a text file, not audio\n" * 200, "not a readable audio file"),
    "truncated.flac": (tone(44100, 2.0, 2, "FLAC")[:6000], "corrupt audio"),
    "truncated.ogg": (tone(44100, 2.0, 2, "OGG")[:3000], "not a readable audio file"),
    "truncated.mp3": (tone(44100, 2.0, 2, "MP3")[:3000], "truncated"),
    "truncated.wav": (tone(16000, 2.0)[:20_000], "truncated"),
    "lying-header.wav": (wav_claiming_more_frames(), "truncated"),
    "header-only.wav": (tone(16000, 1.0)[:44], "truncated"),
    "review-bomb.flac": (flac_claiming(sr=655350, channels=8, seconds=590), "sample rate 655350"),
    "too-slow-rate.wav": (tone(3000, 1.0), "sample rate 3000 Hz"),
    "too-long.flac": (flac_claiming(sr=16000, channels=1, seconds=900), "too long: 900.0 s"),
    "many-channels.wav": (tone(8000, 0.2, channels=40), "40 channels"),
    "not-supported.au": (tone(16000, 0.5, fmt="AU"), "unsupported audio format"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_file_is_a_400_naming_it_and_stores_nothing(
    client_for, researcher, project, media_root, name
):
    content, reason = HOSTILE[name]
    response = upload(client_for(researcher), project, [named(name, content)])
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert body["created"] == []
    assert body["skipped"] == []
    assert [e["name"] for e in body["errors"]] == [name]
    assert reason in body["errors"][0]["reason"]
    from annotate.models import Clip

    assert Clip.objects.count() == 0
    assert stored_wavs(media_root) == []


@pytest.mark.parametrize(
    ("sr", "channels", "fmt"),
    [(7000, 1, "WAV"), (96000, 2, "FLAC"), (22050, 3, "WAV"), (11025, 4, "OGG")]
    + [(44100, c, "FLAC") for c in (5, 6, 7, 8)]
    + [(192000, 8, "WAV"), (4000, 1, "WAV")],
)
def test_odd_rates_and_channel_counts_go_in_as_16k_mono(
    client_for, researcher, project, media_root, sr, channels, fmt
):
    name = f"odd-{sr}-{channels}.{fmt.lower()}"
    response = upload(
        client_for(researcher),
        project,
        [named(name, tone(sr, 1.5, channels, fmt, freq=150 + channels * 40))],
    )
    assert response.status_code == 201, response.content[:500]
    (created,) = response.json()["created"]
    from annotate.models import Clip

    clip = Clip.objects.get(pk=created["id"])
    assert (clip.original_sample_rate, clip.original_channels) == (sr, channels)
    info = sf.info(clip.audio.path)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert info.duration == pytest.approx(1.5, abs=0.03)
    assert clip.duration_s == pytest.approx(1.5, abs=0.03)
    audio, _ = sf.read(clip.audio.path)
    assert 0.1 < np.abs(audio).max() <= 1.0  # the tone, not silence or clipping garbage


def test_decoding_has_a_wall_time_limit(client_for, researcher, project, media_root, settings):
    settings.CONCORD_MAX_DECODE_SECONDS = 1e-6
    response = upload(
        client_for(researcher), project, [named("slow.flac", tone(44100, 5.0, 2, "FLAC"))]
    )
    assert response.status_code == 400
    assert "decoding took longer than" in response.json()["errors"][0]["reason"]
    assert stored_wavs(media_root) == []


MEASURE = """
import json, resource, sys, time
from annotate.audio import AudioError, decode

resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))  # a regression fails, not the box


def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


out = {}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset this process's peak resident set size (VmHWM) to now
    before = status("VmRSS")
    started = time.monotonic()
    try:
        clip = decode(data, max_seconds=600)
        result = f"decoded {clip.duration_s} s"
        del clip
    except AudioError as exc:
        result = f"refused: {exc}"
    out[path] = {
        "result": result,
        "grew_mb": (status("VmHWM") - before) / 1024,
        "seconds": time.monotonic() - started,
        "file_mb": len(data) / 2**20,
    }
    del data
print(json.dumps(out))
"""


def test_decompression_bombs_decode_in_bounded_memory(tmp_path):
    """The review's bomb (8 channels, 655,350 Hz, 590 s) is refused by its header; the
    worst file the limits allow (8 channels, 192 kHz, 590 s of silence: under 1 MB that
    decodes to 3.6 GB of float32, 4.3 GB peak before the fix) decodes block by block.
    Measured in a fresh process: peak resident memory grows by well under 200 MB."""
    legal = silent_flac(tmp_path / "legal-bomb.flac", sr=192000, channels=8, seconds=590)
    review = tmp_path / "review-bomb.flac"
    review.write_bytes(flac_claiming(sr=655350, channels=8, seconds=590))
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(review), str(legal)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(measured, indent=1))  # the figures, with -s
    assert measured[str(review)]["result"].startswith("refused: sample rate 655350 Hz")
    assert measured[str(review)]["grew_mb"] < 50
    bomb = measured[str(legal)]
    assert bomb["result"] == "decoded 590.0 s"
    assert bomb["file_mb"] < 5
    assert bomb["grew_mb"] < 200, bomb


# --- 2. batches: each file on its own, the report is exactly what went in ---------------


def _crashing_decode(real):
    def decode(data, **kwargs):
        if data.startswith(b"RIFF") and b"CRASH" in data[-16:]:
            raise RuntimeError("a decoder bug")
        return real(data, **kwargs)

    return decode


def test_a_mixed_batch_takes_every_good_file_and_lists_every_bad_one(
    client_for, researcher, project, media_root, monkeypatch
):
    import annotate.services.ingest as ingest
    from annotate.models import Clip

    monkeypatch.setattr(ingest, "decode", _crashing_decode(ingest.decode))
    good = [named(f"good{i}.wav", tone(16000, 1.0, freq=200 + 60 * i)) for i in range(4)]
    files = [
        good[0],
        named("bomb.flac", HOSTILE["review-bomb.flac"][0]),
        good[1],
        named("crash.wav", tone(16000, 0.5, freq=999) + b"CRASH"),
        named("random.wav", HOSTILE["random.wav"][0]),
        good[2],
        named("again.wav", tone(16000, 1.0, freq=200)),  # the same audio as good0
        named("truncated.wav", HOSTILE["truncated.wav"][0]),
        good[3],
    ]
    response = upload(client_for(researcher), project, files)
    assert response.status_code == 201
    body = response.json()
    # (in an order of their own: clip ids must not follow the upload's order, so which
    # of good0.wav and its copy again.wav comes first and goes in is not fixed)
    created = sorted(c["name"] for c in body["created"])
    (skipped,) = body["skipped"]
    assert "same audio as clip" in skipped["reason"]
    assert sorted([*created, skipped["name"]]) == sorted(
        ["again.wav", *(f"good{i}.wav" for i in range(4))]
    )
    assert {"good1.wav", "good2.wav", "good3.wav"} < set(created)
    errors = {e["name"]: e["reason"] for e in body["errors"]}
    assert sorted(errors) == ["bomb.flac", "crash.wav", "random.wav", "truncated.wav"]
    assert "could not be decoded (RuntimeError)" in errors["crash.wav"]
    # Exactly what the report says is stored: rows, ids and files.
    assert sorted(Clip.objects.values_list("id", flat=True)) == sorted(
        c["id"] for c in body["created"]
    )
    assert {c.original_name for c in Clip.objects.all()} == set(created)
    assert len(stored_wavs(media_root)) == 4


def test_a_storage_failure_of_one_file_is_its_error_not_the_batchs(
    client_for, researcher, project, media_root, monkeypatch
):
    import annotate.services.ingest as ingest
    from annotate.models import Clip

    real_store = ingest._store

    def store(*, project, source, clip):
        if source.name == "disk-full.wav":
            raise OSError(28, "No space left on device")
        return real_store(project=project, source=source, clip=clip)

    monkeypatch.setattr(ingest, "_store", store)
    files = [
        named(f"{n}.wav", tone(freq=f)) for n, f in (("a", 210), ("disk-full", 230), ("b", 250))
    ]
    response = upload(client_for(researcher), project, files)
    assert response.status_code == 201
    body = response.json()
    assert sorted(c["name"] for c in body["created"]) == ["a.wav", "b.wav"]
    assert body["errors"] == [{"name": "disk-full.wav", "reason": "could not be stored (OSError)"}]
    assert Clip.objects.count() == 2


def test_an_upload_that_runs_out_of_time_lists_the_files_it_did_not_reach(
    client_for, researcher, project, media_root, monkeypatch, settings
):
    """A web server kills a request that runs too long, which would leave its batch
    half-stored with no report; the upload's own time budget stops first."""
    import time

    import annotate.services.ingest as ingest
    from annotate.models import Clip

    real = ingest.decode

    def slow(data, **kwargs):
        time.sleep(0.4)
        return real(data, **kwargs)

    monkeypatch.setattr(ingest, "decode", slow)
    settings.CONCORD_MAX_UPLOAD_SECONDS = 0.6
    files = [named(f"f{i}.wav", tone(freq=300 + 40 * i)) for i in range(4)]
    response = upload(client_for(researcher), project, files)
    assert response.status_code == 201
    body = response.json()
    assert len(body["created"]) == 2
    assert len(body["errors"]) == 2
    assert all("ran out of time" in e["reason"] for e in body["errors"])
    assert {c["name"] for c in body["created"]} | {e["name"] for e in body["errors"]} == {
        f"f{i}.wav" for i in range(4)
    }
    assert Clip.objects.count() == 2
    assert len(stored_wavs(media_root)) == 2


def _dying_decode_file(path, max_seconds, max_decode_seconds):
    """Run in a decoding worker process: dies (as an OOM kill would) on one file."""
    if path.endswith("dies.wav"):
        os._exit(9)
    return decode_file(path, max_seconds, max_decode_seconds)


def test_a_dead_decoding_process_costs_only_its_file(tmp_path):
    from annotate.services.ingest import Source, _decoded, _PathReader

    paths = []
    for i in range(10):
        name = "dies.wav" if i == 8 else f"f{i}.wav"
        (tmp_path / name).write_bytes(tone(16000, 0.3, freq=200 + 20 * i))
        paths.append(tmp_path / name)
    sources = [Source(name=p.name, read=_PathReader(p)) for p in paths]
    results = {
        source.name: result
        for source, result in _decoded(sources, 600.0, 60.0, 2, decode_path=_dying_decode_file)
    }
    assert list(results) == [p.name for p in paths]
    assert "the decoder crashed on this file" in results["dies.wav"]
    assert all(not isinstance(r, str) for n, r in results.items() if n != "dies.wav")


# --- 3. limits per request -------------------------------------------------------------


def test_a_request_over_the_total_limit_is_413_before_its_body_is_read(
    client_for, researcher, project, media_root, settings
):
    settings.CONCORD_MAX_UPLOAD_REQUEST_BYTES = 100_000
    files = [named(f"f{i}.wav", tone(16000, 1.0, freq=300 + 50 * i)) for i in range(4)]
    body = assert_error_shape(
        upload(client_for(researcher), project, files), 413, "request_too_large"
    )
    assert "the limit is" in body["detail"]
    assert "several requests" in body["detail"]
    # A declared Content-Length over the limit is refused without reading a byte
    # (the test client's payload would raise if more were read than it holds).
    declared = upload(
        client_for(researcher), project, [named("x.wav", tone())], CONTENT_LENGTH="10000000000"
    )
    assert_error_shape(declared, 413, "request_too_large")
    from annotate.models import Clip

    assert Clip.objects.count() == 0
    assert stored_wavs(media_root) == []


def test_the_request_limit_holds_for_a_browser_session_too(researcher, project, settings):
    from rest_framework.test import APIClient

    settings.CONCORD_MAX_UPLOAD_REQUEST_BYTES = 10_000
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(researcher)
    response = upload(client, project, [named("x.wav", tone(16000, 1.0))])
    assert_error_shape(response, 413, "request_too_large")


def test_too_many_files_in_one_request_is_413(
    client_for, researcher, project, media_root, settings
):
    from annotate.models import Clip

    settings.CONCORD_MAX_UPLOAD_FILES = 3
    files = [named(f"f{i}.wav", tone(16000, 0.2, freq=300 + 50 * i)) for i in range(4)]
    body = assert_error_shape(upload(client_for(researcher), project, files), 413, "too_many_files")
    assert "4 files" in body["detail"]
    assert "the limit is 3" in body["detail"]
    # Django's own count (DATA_UPLOAD_MAX_NUMBER_FILES) stops the parser: the same answer.
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [named(f"g{i}.wav", tone(16000, 0.2, freq=500 + 50 * i)) for i in range(3)]
    body = assert_error_shape(upload(client_for(researcher), project, files), 413, "too_many_files")
    assert "more than 2 files" in body["detail"]
    assert Clip.objects.count() == 0
    assert stored_wavs(media_root) == []


def test_one_file_over_the_per_file_limit_refuses_the_request(
    client_for, researcher, project, media_root, settings
):
    from annotate.models import Clip

    settings.CONCORD_MAX_UPLOAD_BYTES = 20_000
    files = [named("small.wav", tone(16000, 0.2)), named("big.wav", tone(16000, 2.0))]
    body = assert_error_shape(upload(client_for(researcher), project, files), 413, "too_large")
    assert "big.wav" in body["detail"]
    assert "small.wav" not in body["detail"]
    assert Clip.objects.count() == 0


def test_uploads_still_work_after_hostile_ones(client_for, researcher, rater, project, media_root):
    client = client_for(researcher)
    for name in ("review-bomb.flac", "lying-header.wav", "random.wav"):
        assert upload(client, project, [named(name, HOSTILE[name][0])]).status_code == 400
    response = upload(client, project, [named("fine.flac", tone(48000, 1.0, 2, "FLAC"))])
    assert response.status_code == 201
    rater_client = client_for(rater)
    lease = rater_client.post(f"/api/v1/projects/{project.pk}/next/").json()
    assert (
        rater_client.get(f"/api/v1/assignments/{lease['assignment']['id']}/audio/").status_code
        == 200
    )
    assert rate(rater_client, lease["assignment"]["id"]).status_code == 201


# --- 4. rating bodies ----------------------------------------------------------------------


GOOD = {"arousal": 0.5, "valence": -0.25}


def rate(client, assignment_id, values=None, **extra_fields):
    body = {"values": GOOD if values is None else values, "client_token": uuid.uuid4().hex}
    body.update(extra_fields)
    return client.post(f"/api/v1/assignments/{assignment_id}/rating/", body, format="json")


def post_raw(client, assignment_id, raw: bytes | str, content_type="application/json"):
    return client.generic(
        "POST",
        f"/api/v1/assignments/{assignment_id}/rating/",
        raw.encode() if isinstance(raw, str) else raw,
        content_type=content_type,
    )


def body_text(values_json: str, token: str | None = None, extra: str = "") -> str:
    return f'{{"values": {values_json}, "client_token": "{token or uuid.uuid4().hex}"{extra}}}'


@pytest.fixture
def lease(client_for, rater, project, clips):
    client = client_for(rater)
    response = client.post(f"/api/v1/projects/{project.pk}/next/")
    assert response.status_code == 200
    return client, response.json()["assignment"]["id"]


def assert_refused_then_rateable(client, assignment_id, response, status, code=None, needle=None):
    from annotate.models import Assignment, AssignmentStatus, Rating

    body = assert_error_shape(response, status, code)
    if needle:
        assert needle in body["detail"], body
    assert Rating.objects.count() == 0
    assert Assignment.objects.get(pk=assignment_id).status == AssignmentStatus.ACTIVE
    good = rate(client, assignment_id)
    assert good.status_code == 201, good.content[:500]
    assert Rating.objects.count() == 1
    return body


RAW_BODIES = {
    # JSON that Python's json reads but no rating may hold: the parser refuses it (400).
    "400-digit integer": (body_text('{"arousal": 1' + "0" * 399 + ', "valence": 0}'), "digits"),
    "nested 5000 deep": (body_text("[" * 5000 + "]" * 5000), "nested deeper"),
    "nested 100 deep": (body_text('{"arousal": ' + "[" * 100 + "]" * 100 + "}"), "nested deeper"),
    "lone surrogate key": (body_text('{"\\ud800": 0.1, "arousal": 0, "valence": 0}'), "surrogate"),
    "lone surrogate token": (body_text(json.dumps(GOOD), token="abcdefgh\\udfff"), "surrogate"),
    "NaN token": (body_text('{"arousal": NaN, "valence": 0}'), "finite"),
    "Infinity token": (body_text('{"arousal": Infinity, "valence": 0}'), "finite"),
    "-Infinity token": (body_text('{"arousal": -Infinity, "valence": 0}'), "finite"),
    "1e999": (body_text('{"arousal": 1e999, "valence": 0}'), "finite"),
    "-1e999": (body_text('{"arousal": -1e999, "valence": 0}'), "finite"),
    "huge time_spent_ms literal": (
        body_text(json.dumps(GOOD), extra=', "time_spent_ms": ' + "9" * 60),
        "digits",
    ),
    "not JSON": ("{values: 1", "JSON parse error"),
    "not UTF-8": (
        b'{"values": {"arousal": 0.1, "valence": 0}, "client_token": "\xff\xfe\xfd\xfcabcd"}',
        "UTF-8",
    ),
}


@pytest.mark.parametrize("case", sorted(RAW_BODIES))
def test_json_no_rating_may_hold_is_a_400_parse_error(lease, case):
    client, assignment_id = lease
    raw, needle = RAW_BODIES[case]
    response = post_raw(client, assignment_id, raw)
    body = assert_refused_then_rateable(client, assignment_id, response, 400, "parse_error")
    assert needle.lower() in body["detail"].lower(), body


@pytest.mark.parametrize(
    ("values", "code", "needle"),
    [
        ({"arousal": "NaN", "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": "Infinity", "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": "-Infinity", "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": "0.5", "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": True, "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": False, "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": None, "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": {"value": 0.1}, "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": [0.1], "valence": 0}, "not_a_number", "arousal"),
        ({"arousal": 1.0000001, "valence": 0}, "out_of_scale", "arousal"),
        ({"arousal": -50, "valence": 0}, "out_of_scale", "arousal"),
        ({"arousal": 10**19, "valence": 0}, "out_of_scale", "arousal"),
        ({"arousal": 0.1, "valence": 0, "dominance": 0}, "unknown_target", "dominance"),
        ({"arousal": 0.1, "valence": 0, "x" * 5000: 0}, "unknown_target", "x" * 40 + "..."),
        ({"arousal": 0.1}, "missing_target", "valence"),
        ({}, "missing_target", "arousal"),
        ([0.1, 0.2], "bad_values", "values"),
        ("0.5", "bad_values", "values"),
        (7, "bad_values", "values"),
    ],
)
def test_values_no_scale_takes_are_a_400_naming_the_problem(lease, values, code, needle):
    client, assignment_id = lease
    response = rate(client, assignment_id, values)
    assert_refused_then_rateable(client, assignment_id, response, 400, code, needle)


def test_an_unknown_target_message_stays_short(lease):
    client, assignment_id = lease
    many = {**GOOD, **{f"t{i}": 0 for i in range(1000)}}
    body = assert_refused_then_rateable(
        client, assignment_id, rate(client, assignment_id, many), 400, "unknown_target"
    )
    assert "and 995 more" in body["detail"]
    assert len(body["detail"]) < 300


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"time_spent_ms": 2**31}, "bad_time_spent"),  # a PostgreSQL DataError before
        ({"time_spent_ms": 2**40}, "bad_time_spent"),
        ({"time_spent_ms": -1}, "bad_time_spent"),
        ({"time_spent_ms": "1500"}, "bad_time_spent"),
        ({"time_spent_ms": 1500.5}, "bad_time_spent"),
        ({"time_spent_ms": True}, "bad_time_spent"),
        ({"time_spent_ms": [1]}, "bad_time_spent"),
        ({"client_token": "t" * 65}, "bad_token"),
        ({"client_token": "short"}, "bad_token"),
        ({"client_token": 1234567890}, "bad_token"),
        ({"client_token": ["abcdefghij"]}, "bad_token"),
        ({"client_token": {"a": "abcdefghij"}}, "bad_token"),
        ({"client_token": None}, "null"),
    ],
)
def test_bad_client_token_or_time_spent_is_a_400(lease, fields, code):
    client, assignment_id = lease
    response = rate(client, assignment_id, **fields)
    assert_refused_then_rateable(client, assignment_id, response, 400, code)


def test_the_largest_time_spent_is_taken(lease):
    from annotate.models import Rating

    client, assignment_id = lease
    response = rate(client, assignment_id, time_spent_ms=2**31 - 1)
    assert response.status_code == 201
    assert Rating.objects.get().time_spent_ms == 2**31 - 1


@pytest.mark.parametrize(
    "raw",
    ["[1, 2, 3]", '"a string"', "42", "null", "true", '{"client_token": "abcdefghij"}', "{}"],
)
def test_a_body_that_is_not_a_rating_object_is_a_400(lease, raw):
    client, assignment_id = lease
    response = post_raw(client, assignment_id, raw)
    assert_refused_then_rateable(client, assignment_id, response, 400)


def test_a_huge_body_is_413_and_read_no_further_than_the_limit(lease):
    client, assignment_id = lease
    padding = "x" * (5 * 2**20)
    response = post_raw(client, assignment_id, body_text(json.dumps({**GOOD, "pad": padding})))
    body = assert_refused_then_rateable(client, assignment_id, response, 413, "body_too_large")
    assert "1 MiB" in body["detail"]


def test_a_huge_form_body_is_refused_unread(lease):
    # The rating endpoint reads JSON only (a form cannot carry an integer time_spent_ms,
    # so its schema offers none): a form, huge or not, is 415 before it is read.
    client, assignment_id = lease
    raw = "values=1&client_token=abcdefghij&pad=" + "x" * (2 * 2**20)
    response = post_raw(client, assignment_id, raw, "application/x-www-form-urlencoded")
    assert_refused_then_rateable(client, assignment_id, response, 415, "unsupported_media_type")


def test_a_body_of_another_type_is_415(lease):
    client, assignment_id = lease
    response = post_raw(client, assignment_id, json.dumps({"values": GOOD}), "text/plain")
    assert_refused_then_rateable(client, assignment_id, response, 415, "unsupported_media_type")


def test_another_projects_assignment_is_404_whatever_the_body(client_for, rater, lease, media_root):
    from annotate.models import Rating

    client, own = lease
    other = make_project("elsewhere")
    make_clips(other, 2, start_freq=600)
    stranger = make_user("stan", "rater", [other])
    theirs = client_for(stranger).post(f"/api/v1/projects/{other.pk}/next/").json()
    foreign = theirs["assignment"]["id"]
    for response in (
        rate(client, foreign),
        post_raw(client, foreign, body_text('{"arousal": NaN}')),
        rate(client, foreign + 1000),
    ):
        assert_error_shape(response, 404)
    assert Rating.objects.count() == 0
    assert rate(client_for(stranger), foreign).status_code == 201
    assert rate(client, own).status_code == 201


def test_the_json_parser_refuses_bodies_on_every_endpoint(client_for, admin, project):
    response = client_for(admin).generic(
        "PATCH",
        f"/api/v1/projects/{project.pk}/settings/",
        body_text("[" * 5000 + "]" * 5000),
        content_type="application/json",
    )
    assert_error_shape(response, 400, "parse_error")
