"""Raters (issue 15, must-have 2): measures, flags, block / unblock, and roles."""

import uuid

import pytest
from django.test import Client

from annotate.models import AuditEntry, Clip, RaterBlock, RaterNoise, Rating, ReferenceLabel
from annotate.selectors_raters import crowd_agreement, rater_flags
from annotate.services.blocks import rater_block, rater_unblock
from tests.conftest import make_clips, make_user

pytestmark = pytest.mark.django_db


def _rate(clip: Clip, user, arousal: float, valence: float, ms: int | None = 4000) -> Rating:
    rating = Rating.objects.create(
        clip=clip,
        rater=user,
        values={"arousal": arousal, "valence": valence},
        time_spent_ms=ms,
        client_token=uuid.uuid4().hex,
    )
    Clip.objects.filter(pk=clip.pk).update(n_ratings=clip.ratings.count())
    return rating


@pytest.fixture
def rated(project, media_root, rater, other_rater):
    """Six clips rated by both: rater sensible and slow; other_rater always 0.0 on
    valence, 0.2 s a clip."""
    clips = make_clips(project, 6)
    for i, clip in enumerate(clips):
        _rate(clip, rater, 0.1 * i, 0.2 * i - 0.3, ms=3000)
        _rate(clip, other_rater, 0.1 * i + 0.1, 0.0, ms=200)
    return clips


def test_crowd_agreement_against_the_leave_one_out_mean():
    import numpy as np

    clips = np.array([0, 0, 0, 1, 1, 2])
    raters = np.array([0, 1, 2, 0, 1, 0])
    values = np.array([0.0, 0.3, 0.6, 1.0, 0.5, 0.9])
    out = crowd_agreement(clips, raters, values)
    # Rater 0: |0 - 0.45| on clip 0 and |1 - 0.5| on clip 1; clip 2 is theirs alone.
    assert out[0]["mae"] == pytest.approx((0.45 + 0.5) / 2)
    assert out[0]["clips"] == 2
    assert out[0]["correlation"] is None  # under 3 clips
    assert out[2]["mae"] == pytest.approx(0.45)


def test_flag_rules():
    common = {
        "scale_width": {"arousal": 2.0},
        "noise_clips": {"arousal": 20},
        "crowd_noise": {"arousal": 0.2},
    }
    assert rater_flags(
        n_ratings=10,
        median_seconds=0.3,
        median_duration=2.0,
        spread={"arousal": 0.01},
        noise={"arousal": 0.5},
        **common,
    ) == ["too_fast", "constant", "high_noise"]
    assert (
        rater_flags(
            n_ratings=10,
            median_seconds=1.5,
            median_duration=2.0,
            spread={"arousal": 0.4},
            noise={"arousal": 0.25},
            **common,
        )
        == []
    )
    # Too few ratings: never flagged.
    assert (
        rater_flags(
            n_ratings=3,
            median_seconds=0.1,
            median_duration=2.0,
            spread={"arousal": 0.0},
            noise={"arousal": 0.9},
            **common,
        )
        == []
    )


def test_raters_api_reports_speed_agreement_gold_and_flags(
    client_for, researcher, rater, other_rater, project, media_root
):
    clips = make_clips(project, 6)
    for clip in clips[:4]:
        _rate(clip, rater, 0.5, 0.5, ms=3000)
    for i, clip in enumerate(clips):
        _rate(clip, other_rater, 0.1 * i, 0.0, ms=100)
    ReferenceLabel.objects.create(clip=clips[0], target="arousal", value=0.3)
    body = client_for(researcher).get(f"/api/v1/projects/{project.pk}/raters/").json()
    by_name = {r["username"]: r for r in body}
    fast = by_name[other_rater.username]
    assert fast["ratings"] == 6
    assert fast["median_seconds"] == pytest.approx(0.1)
    assert "too_fast" in fast["flags"]
    assert "constant" in fast["flags"]
    steady = by_name[rater.username]
    assert steady["median_seconds"] == pytest.approx(3.0)
    assert "too_fast" not in steady["flags"]
    # rater vs other_rater on the 4 shared clips, arousal: |0.5 - 0.1 i|, i = 0..3.
    assert steady["crowd_agreement"]["arousal"]["mae"] == pytest.approx((0.5 + 0.4 + 0.3 + 0.2) / 4)
    assert steady["crowd_agreement"]["arousal"]["clips"] == 4
    assert steady["gold"]["arousal"] == {"mae": pytest.approx(0.2), "clips": 1}
    assert steady["gold"]["valence"] is None
    assert steady["blocked"] is None


def test_gold_is_null_without_reference_labels(client_for, researcher, rated, project):
    body = client_for(researcher).get(f"/api/v1/projects/{project.pk}/raters/").json()
    assert all(r["gold"] is None for r in body)


def test_high_noise_flag_against_the_crowd(client_for, researcher, rated, project, other_rater):
    arousal = project.targets.get(name="arousal")
    arousal.rater_noise = 0.2
    arousal.save()
    RaterNoise.objects.create(target=arousal, rater=other_rater, noise=0.45, n_clips=10)
    body = client_for(researcher).get(f"/api/v1/projects/{project.pk}/raters/").json()
    noisy = next(r for r in body if r["username"] == other_rater.username)
    assert "high_noise" in noisy["flags"]
    assert body[0]["username"] == other_rater.username  # the noisiest first


def test_admin_blocks_and_unblocks_with_audit_log(client_for, admin, rater, project, rated):
    url = f"/api/v1/projects/{project.pk}/raters/{rater.pk}"
    response = client_for(admin).post(
        f"{url}/block/", {"reason": "answers without listening"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["blocked"]["reason"] == "answers without listening"
    block = RaterBlock.objects.get(project=project, rater=rater)
    assert block.exclude_ratings is False
    assert block.blocked_by == admin
    entry = AuditEntry.objects.get(action="rater.block")
    assert entry.actor == admin
    assert entry.after["reason"] == "answers without listening"
    listed = client_for(admin).get(f"/api/v1/projects/{project.pk}/raters/").json()
    assert next(r for r in listed if r["id"] == rater.pk)["blocked"]["reason"]
    response = client_for(admin).post(f"{url}/unblock/", format="json")
    assert response.status_code == 200
    assert response.json()["blocked"] is None
    assert not RaterBlock.objects.filter(project=project, rater=rater).exists()
    assert AuditEntry.objects.filter(action="rater.unblock", actor=admin).exists()
    again = client_for(admin).post(f"{url}/unblock/", format="json")
    assert again.status_code == 404
    assert again.json()["code"] == "not_blocked"


def test_block_refuses_bad_input_in_the_error_shape(client_for, admin, rater, project, rated):
    url = f"/api/v1/projects/{project.pk}/raters/{rater.pk}/block/"
    response = client_for(admin).post(url, {"exclude_ratings": "perhaps"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"detail", "code"}
    self_block = client_for(admin).post(
        f"/api/v1/projects/{project.pk}/raters/{admin.pk}/block/", {}, format="json"
    )
    assert self_block.status_code == 404  # the admin is not a rater of the project


def test_block_of_someone_outside_the_project_is_404(client_for, admin, project):
    stranger = make_user("sam", "rater")
    response = client_for(admin).post(
        f"/api/v1/projects/{project.pk}/raters/{stranger.pk}/block/", {}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "no_rater"


def test_excluding_ratings_resettles_the_raters_clips(project, rated, rater, admin):
    pytest.importorskip("annotate.services.ratings").__dict__.get("clips_resettle") or pytest.skip(
        "clips_resettle (annotate.services.ratings) has not landed yet"
    )
    rater_block(project=project, rater=rater, by=admin, reason="", exclude_ratings=True)
    assert RaterBlock.objects.get(rater=rater).exclude_ratings
    rater_unblock(project=project, rater=rater, by=admin)
    assert not RaterBlock.objects.filter(rater=rater).exists()


def test_researcher_may_not_block(client_for, researcher, rater, project, rated):
    response = client_for(researcher).post(
        f"/api/v1/projects/{project.pk}/raters/{rater.pk}/block/", {}, format="json"
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/projects/{p}/raters/"),
        ("post", "/api/v1/projects/{p}/raters/{u}/block/"),
        ("post", "/api/v1/projects/{p}/raters/{u}/unblock/"),
        ("get", "/projects/{p}/raters/"),
    ],
)
def test_rater_403_outsider_404(method, path, project, rater, outsider, rated):
    url = path.format(p=project.pk, u=rater.pk)
    for user, expected in ((rater, 403), (outsider, 404)):
        client = Client()
        client.force_login(user)
        assert getattr(client, method)(url).status_code == expected, (user, url)


def test_raters_page_renders_for_staff_with_nav_link(project, researcher, admin, rated):
    client = Client()
    client.force_login(researcher)
    page = client.get(f"/projects/{project.pk}/raters/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'aria-current="page">Raters' in html
    assert "block-dialog" not in html  # only admins get the block controls
    client.force_login(admin)
    assert "block-dialog" in client.get(f"/projects/{project.pk}/raters/").content.decode()
