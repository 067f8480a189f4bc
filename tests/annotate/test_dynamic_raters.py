"""How many raters a clip gets: the crowd's noise per target, and the standard-error rule
with the agreement rule as its cold-start fallback."""

import uuid

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from annotate.models import Clip, ClipState, Label, RaterNoise, Rating, Target
from annotate.services.raters import rater_reliability_update
from learner.raters import MIN_NOISE_CLIPS
from tests.conftest import make_clips, make_user

pytestmark = pytest.mark.django_db


def rate_through_api(client_for, users, project, clip, values):
    """Each user leases `clip` and rates it; returns the clip as it stands after."""
    for user, (arousal, valence) in zip(users, values, strict=True):
        client = client_for(user)
        lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
        assert lease["clip"]["id"] == clip.pk
        response = client.post(
            f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
            {"values": {"arousal": arousal, "valence": valence}, "client_token": uuid.uuid4().hex},
            format="json",
        )
        assert response.status_code == 201, response.content
    clip.refresh_from_db()
    return clip


@pytest.fixture
def raters(project):
    return [make_user(name, "rater", [project]) for name in ("rita", "otto", "rudi")]


@pytest.fixture
def one_clip(clips):
    """The first clip, the only one open to raters."""
    Clip.objects.exclude(pk=clips[0].pk).update(state=ClipState.DEFERRED)
    return clips[0]


def noise_known(project, value=0.2):
    project.targets.update(rater_noise=value, rater_noise_clips=50)


def test_noise_is_estimated_per_target_and_stored(project, media_root, raters):
    clips = make_clips(project, MIN_NOISE_CLIPS + 2)
    rng = np.random.default_rng(0)
    panels = {}
    for clip in clips:
        truth = rng.uniform(-0.5, 0.5, size=2)
        panel = np.clip(truth + rng.normal(scale=[0.2, 0.1], size=(3, 2)), -1, 1)
        panels[clip.pk] = panel
        for user, (arousal, valence) in zip(raters, panel, strict=True):
            Rating.objects.create(
                clip=clip,
                rater=user,
                values={"arousal": float(arousal), "valence": float(valence)},
                client_token=uuid.uuid4().hex,
            )
    # A rating without valence: counted for arousal only.
    lone = clips[0]
    Rating.objects.filter(clip=lone, rater=raters[2]).update(
        values={"arousal": float(panels[lone.pk][2, 0])}
    )

    rater_reliability_update(project_id=project.pk)

    def pooled(t, drop_last_of=None):
        squares, dof = 0.0, 0
        for pk, panel in panels.items():
            column = panel[:2, t] if pk == drop_last_of else panel[:, t]
            squares += ((column - column.mean()) ** 2).sum()
            dof += len(column) - 1
        return np.sqrt(squares / dof)

    arousal, valence = Target.objects.get(name="arousal"), Target.objects.get(name="valence")
    assert arousal.rater_noise_clips == valence.rater_noise_clips == len(clips)
    assert arousal.rater_noise == pytest.approx(pooled(0))
    assert valence.rater_noise == pytest.approx(pooled(1, drop_last_of=lone.pk))
    assert arousal.rater_noise > valence.rater_noise


def test_noise_stays_unknown_below_the_minimum_of_multi_rated_clips(project, media_root, raters):
    clips = make_clips(project, MIN_NOISE_CLIPS)
    for i, clip in enumerate(clips):
        # The last clip has one rating only: it says nothing about noise.
        for user in raters[: 1 if i == len(clips) - 1 else 2]:
            Rating.objects.create(
                clip=clip,
                rater=user,
                values={"arousal": 0.1 * (user.pk % 3), "valence": 0.0},
                client_token=uuid.uuid4().hex,
            )
    rater_reliability_update(project_id=project.pk)
    for target in project.targets.all():
        assert target.rater_noise is None
        assert target.rater_noise_clips == MIN_NOISE_CLIPS - 1


def test_with_known_noise_two_agreeing_ratings_settle_the_clip(
    client_for, project, raters, one_clip
):
    noise_known(project)
    project.min_raters, project.max_raters = 2, 5
    project.agreement_target = 0.999  # the agreement rule would ask for more
    project.save()
    clip = rate_through_api(client_for, raters[:2], project, one_clip, [(0.5, 0.0), (0.52, 0.01)])
    assert clip.state == ClipState.RATED
    assert clip.ratings_wanted == 2


def test_with_known_noise_disagreeing_ratings_ask_a_third_up_to_max_raters(
    client_for, project, raters, one_clip
):
    noise_known(project)
    project.min_raters, project.max_raters = 2, 3
    project.agreement_target = 0.6  # agreement 0.7: the agreement rule would stop
    project.save()
    clip = rate_through_api(client_for, raters[:2], project, one_clip, [(-0.3, 0.0), (0.3, 0.0)])
    assert clip.state == ClipState.AWAITING_HUMANS
    assert clip.ratings_wanted == 3
    clip = rate_through_api(client_for, raters[2:], project, clip, [(0.9, 0.0)])
    assert clip.n_ratings == 3
    assert clip.state == ClipState.RATED  # still contested, but max_raters answered
    assert clip.ratings_wanted == 3


def test_a_larger_panel_asks_for_more_certainty(client_for, project, raters, one_clip):
    noise_known(project)
    project.min_raters, project.max_raters, project.rater_panel = 2, 5, 8
    project.save()
    clip = rate_through_api(client_for, raters[:2], project, one_clip, [(0.5, 0.0), (0.52, 0.01)])
    assert clip.state == ClipState.AWAITING_HUMANS
    assert clip.ratings_wanted == 3


@pytest.mark.parametrize("known_on", [(), ("arousal",)])
def test_with_unknown_noise_the_agreement_rule_decides(
    client_for, project, raters, clips, one_clip, known_on
):
    project.targets.filter(name__in=known_on).update(rater_noise=0.2, rater_noise_clips=50)
    project.min_raters, project.max_raters, project.agreement_target = 2, 3, 0.6
    project.save()
    # Agreement 0.7 >= 0.6: rated, though the standard-error rule would ask a third.
    clip = rate_through_api(client_for, raters[:2], project, one_clip, [(-0.3, 0.0), (0.3, 0.0)])
    assert clip.state == ClipState.RATED
    assert clip.ratings_wanted == 2
    Clip.objects.filter(pk=clip.pk).update(state=ClipState.DEFERRED)

    other = clips[1]
    Clip.objects.filter(pk=other.pk).update(state=ClipState.AWAITING_HUMANS)
    project.agreement_target = 0.8
    project.save()
    clip = rate_through_api(client_for, raters[:2], project, other, [(-0.3, 0.0), (0.3, 0.0)])
    assert clip.state == ClipState.AWAITING_HUMANS
    assert clip.ratings_wanted == 3


def test_project_api_shows_the_panel_and_each_targets_noise(client_for, researcher, project):
    project.targets.filter(name="arousal").update(rater_noise=0.21, rater_noise_clips=37)
    body = client_for(researcher).get(f"/api/v1/projects/{project.pk}/").json()
    assert body["rater_panel"] == 3
    targets = {target["name"]: target for target in body["targets"]}
    assert targets["arousal"]["rater_noise"] == pytest.approx(0.21)
    assert targets["arousal"]["rater_noise_clips"] == 37
    assert targets["valence"]["rater_noise"] is None
    assert targets["valence"]["rater_noise_clips"] == 0


def test_rater_panel_below_one_is_refused(project):
    project.rater_panel = 0
    with pytest.raises(IntegrityError), transaction.atomic():
        project.save()


def test_each_raters_own_noise_is_stored_once_the_crowds_is_known(project, media_root, raters):
    clips = make_clips(project, 3 * MIN_NOISE_CLIPS)
    rng = np.random.default_rng(1)
    for clip in clips:
        truth = rng.uniform(-0.5, 0.5, size=2)
        # rudi is off by 0.4 and noisy; rita and otto agree closely.
        for user, sd, bias in zip(raters, (0.05, 0.05, 0.3), (0.0, 0.0, 0.4), strict=True):
            arousal, valence = np.clip(truth + bias + rng.normal(scale=sd, size=2), -1, 1)
            Rating.objects.create(
                clip=clip,
                rater=user,
                values={"arousal": float(arousal), "valence": float(valence)},
                client_token=uuid.uuid4().hex,
            )
    rater_reliability_update(project_id=project.pk)
    for target in project.targets.all():
        noise = dict(
            RaterNoise.objects.filter(target=target).values_list("rater__username", "noise")
        )
        assert set(noise) == {"rita", "otto", "rudi"}
        assert noise["rudi"] > 2 * max(noise["rita"], noise["otto"])
        assert noise["rudi"] > target.rater_noise > noise["rita"]
    assert set(RaterNoise.objects.values_list("n_clips", flat=True)) == {len(clips)}
    # Recomputed, not added to.
    rater_reliability_update(project_id=project.pk)
    assert RaterNoise.objects.count() == 2 * len(raters)


def test_a_reliable_raters_single_rating_settles_a_clip_and_an_unreliable_ones_does_not(
    client_for, project, raters, clips, one_clip
):
    noise_known(project, 0.3)
    project.min_raters, project.max_raters = 1, 5
    project.save()
    Clip.objects.filter(pk__in=[one_clip.pk, clips[1].pk]).update(ratings_wanted=1)
    rita, otto = raters[0], raters[1]
    for target in project.targets.all():
        RaterNoise.objects.create(target=target, rater=rita, noise=0.1, n_clips=40)
        RaterNoise.objects.create(target=target, rater=otto, noise=0.6, n_clips=40)
    clip = rate_through_api(client_for, [rita], project, one_clip, [(0.5, 0.0)])
    assert clip.state == ClipState.RATED  # 0.1 is below 0.3 / sqrt(3)
    assert clip.ratings_wanted == 1
    Clip.objects.filter(pk=clip.pk).update(state=ClipState.DEFERRED)

    other = clips[1]
    Clip.objects.filter(pk=other.pk).update(state=ClipState.AWAITING_HUMANS)
    clip = rate_through_api(client_for, [otto], project, other, [(-0.5, 0.0)])
    assert clip.state == ClipState.AWAITING_HUMANS
    assert clip.ratings_wanted == 2
    # rita's rating counts 36 times otto's in the label.
    clip = rate_through_api(client_for, [rita], project, clip, [(0.5, 0.0)])
    label = Label.objects.get(clip=clip, target="arousal", source="human", revoked_at=None)
    assert label.value == pytest.approx((36 * 0.5 - 0.5) / 37)


def test_reliability_counts_only_the_clips_a_rater_shares_with_others(project, media_root, raters):
    """reliability_n is the number of shared clips: rita rates 12 clips with otto and 6
    alone (it counted every clip rated, on whichever target came last)."""
    rita, otto, _ = raters
    clips = make_clips(project, 18)
    shared, alone = clips[:12], clips[12:]
    rng = np.random.default_rng(2)
    for clip in shared:
        truth = rng.uniform(-0.5, 0.5)
        for user in (rita, otto):
            value = float(np.clip(truth + rng.normal(scale=0.1), -1, 1))
            Rating.objects.create(
                clip=clip,
                rater=user,
                values={"arousal": value, "valence": value},
                client_token=uuid.uuid4().hex,
            )
    for clip in alone:
        Rating.objects.create(
            clip=clip,
            rater=rita,
            values={"arousal": 0.1, "valence": 0.1},
            client_token=uuid.uuid4().hex,
        )
    rater_reliability_update(project_id=project.pk)
    rita.profile.refresh_from_db()
    otto.profile.refresh_from_db()
    assert rita.profile.reliability_n == len(shared)  # was 18: every clip rita rated
    assert otto.profile.reliability_n == len(shared)
    assert rita.profile.reliability > 0.5
