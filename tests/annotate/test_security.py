"""Security (issue 16, must-have 5): each finding of the outsider's review, and the rest of
the must-have, with a test that failed before its fix.

Settings (SECRET_KEY, check --deploy, HTTPS) are tested in tests/test_settings_env.py;
roles on every route in test_roles_everywhere.py and access before reading in
test_access_first.py, which these extend.
"""

import hashlib
import io
import json
import re
import socket
import time
import uuid
from datetime import timedelta

import numpy as np
import pytest
import soundfile as sf
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.api import health
from annotate.models import Assignment, Clip, RaterBlock
from annotate.services.ingest import files_import
from tests.conftest import make_clips, make_project, make_user, tone_wav

pytestmark = pytest.mark.django_db

RATING = {"values": {"arousal": 0.2, "valence": -0.1}}


def _lease(client, project):
    response = client.post(f"/api/v1/projects/{project.pk}/next/")
    assert response.status_code == 200, response.content
    return response.json()


def _rate(client, assignment_id, token=None):
    return client.post(
        f"/api/v1/assignments/{assignment_id}/rating/",
        {**RATING, "client_token": token or uuid.uuid4().hex},
        format="json",
    )


def _audio(client, lease):
    return client.get(f"/api/v1/assignments/{lease['assignment']['id']}/audio/")


# 1. Nothing a rater receives finds the clip in a public corpus ---------------------------


def test_lease_audio_has_a_neutral_name_and_a_safe_type(client_for, rater, project, clips):
    client = client_for(rater)
    lease = _lease(client, project)
    clip = Clip.objects.get(pk=lease["clip"]["id"])
    response = _audio(client, lease)
    assert response.status_code == 200
    disposition = response.headers.get("Content-Disposition", "")
    assert 'filename="clip.wav"' in disposition
    headers = json.dumps(dict(response.headers))
    for secret in (clip.sha256, clip.sha256[:16], clip.original_name, clip.external_id):
        assert secret not in headers
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_lease_audio_is_not_the_stored_file_byte_for_byte(
    client_for, rater, other_rater, project, clips
):
    # A 16 kHz mono 16-bit WAV original (EmoDB's are) is stored byte for byte: served as
    # is, its sha256 is the corpus's published checksum.
    client = client_for(rater)
    lease = _lease(client, project)
    clip = Clip.objects.get(pk=lease["clip"]["id"])
    stored = clip.audio.open("rb").read()
    served = b"".join(_audio(client, lease).streaming_content)
    assert hashlib.sha256(served).hexdigest() not in (
        hashlib.sha256(stored).hexdigest(),
        clip.sha256,
    )
    original, rate = sf.read(io.BytesIO(stored), dtype="int16")
    copy, served_rate = sf.read(io.BytesIO(served), dtype="int16")
    assert served_rate == rate
    # The same sound: at most one least significant bit apart, 0-100 ms longer.
    assert len(original) < len(copy) <= len(original) + rate // 10
    assert np.abs(copy[: len(original)].astype(int) - original).max() <= 1
    assert not np.array_equal(copy[: len(original)], original)
    # The same lease gets the same bytes again; another rater's lease of the clip not.
    assert b"".join(_audio(client, lease).streaming_content) == served
    other = client_for(other_rater)
    other_lease = _lease(other, project)
    assert other_lease["clip"]["id"] == clip.pk  # the head of the queue for both
    assert b"".join(_audio(other, other_lease).streaming_content) != served


def test_staff_audio_is_audio_wav_under_a_neutral_name_too(client_for, researcher, clips):
    response = client_for(researcher).get(f"/api/v1/clips/{clips[0].pk}/audio/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert clips[0].sha256 not in response.headers.get("Content-Disposition", "")


def test_the_next_clip_says_nothing_of_its_origin_and_rounds_its_duration(
    client_for, rater, project, media_root
):
    clip = make_clips(project, 1)[0]
    Clip.objects.filter(pk=clip.pk).update(duration_s=2.3456)
    body = _lease(client_for(rater), project)
    text = json.dumps(body)
    for secret in (clip.sha256, clip.original_name, clip.external_id, "anger", "angry"):
        assert secret not in text
    assert body["clip"]["duration_s"] == 2.3  # not 2.3456: no millisecond fingerprint
    assert set(body["clip"]) == {"id", "audio_url", "duration_s", "peaks"}


def test_clip_ids_do_not_follow_the_corpus_order(project, media_root, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    names = [f"{i:03d}.wav" for i in range(12)]
    for i, name in enumerate(names):
        (folder / name).write_bytes(tone_wav(seconds=0.3, freq=200 + 15 * i))
    report = files_import(project=project, paths=[folder])
    assert len(report.created) == 12, report.errors
    in_id_order = [
        name.rsplit("/", 1)[-1]
        for name in Clip.objects.filter(project=project)
        .order_by("pk")
        .values_list("original_name", flat=True)
    ]
    assert sorted(in_id_order) == names
    # 1 / 12! that a keyed order equals the corpus's by chance.
    assert in_id_order != names


# 2. Throttling of sign-in and rating ------------------------------------------------------


def _login(client, password, address="10.0.0.1", username="rita"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_login_form_locks_a_username_out_after_repeated_failures(rater):
    client = Client()
    for _ in range(5):
        response = _login(client, "wrong")
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
    response = _login(client, "pw-rita")  # the right password, while locked out
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "Too many failed sign-ins" in response.content.decode()
    # Another address is not locked out; nor is another username from this one.
    assert _login(Client(), "pw-rita", address="10.0.0.2").status_code == 302
    make_user("ulla", "rater")
    assert _login(Client(), "pw-ulla", username="ulla").status_code == 302


def test_the_lockout_ends_and_a_success_forgets_earlier_failures(rater, monkeypatch):
    for _ in range(4):
        _login(Client(), "wrong")
    assert _login(Client(), "pw-rita").status_code == 302  # forgets the four
    for _ in range(4):
        _login(Client(), "wrong")
    assert _login(Client(), "pw-rita").status_code == 302  # still under the limit
    for _ in range(5):
        _login(Client(), "wrong")
    assert _login(Client(), "pw-rita").status_code == 200
    later = time.time() + 301  # CONCORD_LOGIN_LOCKOUT_SECONDS = 300 by default
    monkeypatch.setattr("annotate.services.auth.time.time", lambda: later)
    assert _login(Client(), "pw-rita").status_code == 302


def test_the_admin_login_is_locked_out_too(admin):
    admin.is_staff = True
    admin.save()
    for _ in range(5):
        Client().post(
            "/admin/login/", {"username": "ada", "password": "no"}, REMOTE_ADDR="10.0.0.9"
        )
    client = Client()
    client.post("/admin/login/", {"username": "ada", "password": "pw-ada"}, REMOTE_ADDR="10.0.0.9")
    assert "_auth_user_id" not in client.session


def _token(password, address="10.0.0.1", client=None):
    return (client or APIClient()).post(
        "/api/v1/auth/token/",
        {"username": "rita", "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def test_the_token_endpoint_locks_out_after_repeated_failures(rater):
    for _ in range(4):
        assert _token("wrong").status_code == 400
    assert _token("wrong").status_code == 429  # the fifth failure locks it, and says so
    response = _token("pw-rita")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert "Too many failed sign-ins" in response.json()["detail"]
    assert 0 < int(response.headers["Retry-After"]) <= 301
    assert not Token.objects.filter(user=rater).exists()
    assert _token("pw-rita", address="10.0.0.2").status_code == 200


def test_the_token_endpoint_is_throttled_per_address(rater, settings):
    settings.CONCORD_TOKEN_RATE = "3/min"
    for _ in range(3):
        assert _token("pw-rita").status_code == 200
    response = _token("pw-rita")
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert "Retry-After" in response.headers
    assert _token("pw-rita", address="10.0.0.7").status_code == 200


def test_odd_token_bodies_are_400_not_500(rater):
    client = APIClient()
    for body in ([1, 2], {"username": ["rita"], "password": "x"}, {"username": 5}):
        response = client.post("/api/v1/auth/token/", body, format="json")
        assert response.status_code == 400, (body, response.content)


def test_the_rating_endpoint_is_throttled_per_rater(
    client_for, rater, other_rater, project, clips, settings
):
    settings.CONCORD_RATING_RATE = "2/min"
    client = client_for(rater)
    for _ in range(2):
        assert _rate(client, _lease(client, project)["assignment"]["id"]).status_code == 201
    lease = _lease(client, project)
    response = _rate(client, lease["assignment"]["id"])
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert "Retry-After" in response.headers
    # Another rater is not slowed down by this one.
    other = client_for(other_rater)
    assert _rate(other, _lease(other, project)["assignment"]["id"]).status_code == 201


def test_the_default_rates_leave_humans_alone(settings):
    assert settings.CONCORD_RATING_RATE == "120/min"
    assert settings.CONCORD_LOGIN_MAX_FAILURES == 5


# 3. API tokens die with a browser logout --------------------------------------------------


def test_logout_deletes_the_users_api_tokens(rater, other_rater):
    token = _token("pw-rita").json()["token"]
    other = Token.objects.create(user=other_rater)
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/projects/").status_code == 200
    browser = Client()
    browser.force_login(rater)
    assert browser.post("/logout/").status_code == 302
    assert not Token.objects.filter(user=rater).exists()
    assert api.get("/api/v1/projects/").json()["code"] == "authentication_failed"
    assert Token.objects.filter(pk=other.pk).exists()  # nobody else's


# 4. Removal and blocking take effect at once; finished leases serve no audio -------------


def test_a_rater_removed_from_the_project_loses_the_audio_and_the_rating_of_a_lease(
    client_for, rater, project, clips
):
    client = client_for(rater)
    lease = _lease(client, project)
    assert _audio(client, lease).status_code == 200
    project.members.remove(rater)
    assert _audio(client, lease).status_code == 404
    assert _rate(client, lease["assignment"]["id"]).status_code == 404


def test_a_blocked_rater_loses_the_audio_the_rating_and_the_next_clip(
    client_for, rater, admin, project, clips
):
    client = client_for(rater)
    lease = _lease(client, project)
    RaterBlock.objects.create(project=project, rater=rater, blocked_by=admin)
    audio = _audio(client, lease)
    assert audio.status_code == 404
    assert audio.json()["code"] == "no_assignment"
    rating = _rate(client, lease["assignment"]["id"])
    assert rating.status_code == 404
    assert not rater.ratings.exists()
    refused = client.post(f"/api/v1/projects/{project.pk}/next/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "rater_blocked"
    RaterBlock.objects.filter(project=project, rater=rater).delete()
    assert _audio(client, lease).status_code == 200  # unblocking gives the lease back


def test_audio_of_a_finished_or_expired_lease_is_not_served(client_for, rater, project, clips):
    client = client_for(rater)
    rated = _lease(client, project)
    token = uuid.uuid4().hex
    assert _rate(client, rated["assignment"]["id"], token).status_code == 201
    finished = _audio(client, rated)
    assert finished.status_code == 404
    assert finished.json()["code"] == "no_assignment"
    # A replay of the rating still answers with the stored rating.
    assert _rate(client, rated["assignment"]["id"], token).status_code == 200
    expiring = _lease(client, project)
    Assignment.objects.filter(pk=expiring["assignment"]["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert _audio(client, expiring).status_code == 404


# 5. Content-Security-Policy ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login/", "/", "/rate/{p}/", "/projects/{p}/", "/healthz"])
def test_every_page_has_a_strict_content_security_policy(admin, project, path):
    client = Client()
    client.force_login(admin)
    response = client.get(path.format(p=project.pk))
    assert response.status_code in (200, 302), response.status_code
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy  # no inline scripts
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy


def test_the_api_has_the_policy_and_the_docs_page_alone_allows_its_inline_script(researcher):
    client = Client()
    client.force_login(researcher)
    assert (
        "script-src 'self';" in client.get("/api/v1/projects/").headers["Content-Security-Policy"]
    )
    docs = client.get("/api/docs/").headers["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in docs


def test_our_templates_have_no_inline_script_or_event_handler():
    from django.conf import settings

    folder = settings.BASE_DIR / "frontend" / "templates"
    for template in folder.rglob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), template
        assert not re.search(r"\son[a-z]+\s*=", html), template


# 7. The same 404 for missing and not yours -----------------------------------------------


@pytest.fixture
def foreign(media_root):
    """A project the cast is not in, with a clip, a lease and a run."""
    from annotate.models import TrainingRun

    other = make_project("elsewhere")
    clip = make_clips(other, 1, start_freq=600)[0]
    someone = make_user("sid", "rater", [other])
    lease = Assignment.objects.create(
        project=other, clip=clip, rater=someone, expires_at=timezone.now() + timedelta(hours=1)
    )
    run = TrainingRun.objects.create(project=other)
    return {"project": other.pk, "clip": clip.pk, "assignment": lease.pk, "run": run.pk}


@pytest.mark.parametrize(
    ("kind", "method", "path"),
    [
        ("project", "get", "/api/v1/projects/{}/"),
        ("project", "post", "/api/v1/projects/{}/next/"),
        ("project", "get", "/api/v1/projects/{}/stats/"),
        ("clip", "get", "/api/v1/clips/{}/audio/"),
        ("assignment", "get", "/api/v1/assignments/{}/audio/"),
        ("assignment", "post", "/api/v1/assignments/{}/rating/"),
        ("run", "get", "/api/v1/training-runs/{}/"),
    ],
)
@pytest.mark.parametrize("who", ["rater", "researcher"])
def test_not_yours_is_word_for_word_the_404_of_missing(
    request, client_for, foreign, kind, method, path, who
):
    client = client_for(request.getfixturevalue(who))
    mine_not = getattr(client, method)(path.format(foreign[kind]), {}, format="json")
    missing = getattr(client, method)(path.format(987654), {}, format="json")
    assert mine_not.status_code == missing.status_code == 404
    assert mine_not.json() == missing.json()
    assert not re.search(r"\d", mine_not.json()["detail"])  # no id, no project


# 8. /healthz: no exception text, fast when Redis is down ----------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_is_fast_and_says_nothing_more_when_redis_is_down(client, caplog):
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    with override_settings(REDIS_URL=url):
        started = time.monotonic()
        assert health.broker_ok() is False
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "broker": "unavailable"}
    assert "broker is unavailable" in caplog.text  # the reason goes to the log


def test_healthz_answers_within_the_timeout_when_redis_does_not_answer():
    # A port that accepts connections and never answers: the PING times out.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        with override_settings(REDIS_URL=url):
            started = time.monotonic()
            assert health.broker_ok() is False
            assert time.monotonic() - started < 1.5


def test_healthz_hides_a_database_error(client, monkeypatch):
    def broken():
        raise RuntimeError("password authentication failed for user concord at 10.1.2.3")

    monkeypatch.setattr(health.connection, "cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"
    assert "10.1.2.3" not in response.content.decode()
    assert "password" not in response.content.decode()


# 9. CSRF on every browser form; what a rater may not read ---------------------------------


def test_browser_forms_refuse_a_post_without_the_csrf_token(rater, project):
    anonymous = Client(enforce_csrf_checks=True)
    login = anonymous.post("/login/", {"username": "rita", "password": "pw-rita"})
    assert login.status_code == 403
    assert "_auth_user_id" not in anonymous.session
    admin_login = anonymous.post("/admin/login/", {"username": "rita", "password": "pw-rita"})
    assert admin_login.status_code == 403
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(rater)
    assert signed_in.post("/logout/").status_code == 403
    assert "_auth_user_id" in signed_in.session  # still signed in
    # The pages' own forms post to the API with the session: the same refusal there.
    api = signed_in.post(f"/api/v1/projects/{project.pk}/next/")
    assert api.status_code == 403
    assert api.json()["code"] == "permission_denied"


def test_a_rater_reads_only_their_own_ratings(client_for, rater, other_rater, project, clips):
    mine = client_for(rater)
    theirs = client_for(other_rater)
    _rate(mine, _lease(mine, project)["assignment"]["id"])
    their_lease = _lease(theirs, project)
    _rate(theirs, their_lease["assignment"]["id"])
    listed = mine.get("/api/v1/ratings/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert len(rows) == 1
    assert {row["rater"] for row in rows if "rater" in row} <= {rater.pk}
    of_their_clip = mine.get(f"/api/v1/ratings/?clip={their_lease['clip']['id']}").json()
    rows = of_their_clip["results"] if isinstance(of_their_clip, dict) else of_their_clip
    assert all(row.get("rater", rater.pk) == rater.pk for row in rows)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/{p}/clips/",  # metadata, labels and reference labels
        "/api/v1/clips/{c}/",
        "/api/v1/projects/{p}/export/labels/?format=csv",
        "/api/v1/projects/{p}/export/ratings/?format=json",
        "/api/v1/projects/{p}/dashboard/",
        "/api/v1/projects/{p}/raters/",
    ],
)
def test_a_rater_reads_no_labels_exports_or_dashboards(client_for, rater, project, clips, path):
    response = client_for(rater).get(path.format(p=project.pk, c=clips[0].pk))
    assert response.status_code == 403
    assert "0.59" not in response.content.decode()


def test_a_rater_cannot_use_the_django_admin(rater):
    client = Client()
    client.force_login(rater)
    for path in ("/admin/", "/admin/annotate/rating/", "/admin/annotate/referencelabel/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/login/")


def test_the_user_model_keeps_passwords_hashed():
    user = get_user_model().objects.create_user("hash", password="plain-text-pw")
    assert "plain-text-pw" not in user.password
