"""Small teams and honest queues (issue 15, must-have 7): a clip never wants more raters
than the project has active raters, and a rater hears "nothing left" only when no clip
they have not rated needs a human (deferred clips come back before they are sent away)."""

import uuid

import pytest

from annotate.learning.settle import active_rater_ids, raters_cap
from annotate.models import Clip, ClipState, Label, RaterBlock
from tests.conftest import make_clips, make_user

pytestmark = pytest.mark.django_db


def _lease_and_rate(client, project, values) -> int:
    lease = client.post(f"/api/v1/projects/{project.pk}/next/")
    assert lease.status_code == 200, lease.content
    body = lease.json()
    response = client.post(
        f"/api/v1/assignments/{body['assignment']['id']}/rating/",
        {"values": values, "client_token": uuid.uuid4().hex},
        format="json",
    )
    assert response.status_code == 201, response.content
    return body["clip"]["id"]


def test_two_raters_who_disagree_settle_the_clip_between_them(
    client_for, rater, other_rater, project, clips
):
    project.min_raters, project.max_raters, project.agreement_target = 2, 5, 0.9
    project.save()
    Clip.objects.exclude(pk=clips[0].pk).update(state=ClipState.RATED)
    for user, value in ((rater, -0.9), (other_rater, 0.9)):
        _lease_and_rate(client_for(user), project, {"arousal": value, "valence": 0.0})
    clip = Clip.objects.get(pk=clips[0].pk)
    # The rule wants a third rating, but the project has two raters: nobody could give it.
    assert clip.state == ClipState.RATED
    assert clip.ratings_wanted == 2
    assert Label.objects.filter(clip=clip, source="human", revoked_at=None).count() == 2


def test_who_counts_as_an_active_rater(project, rater, other_rater, admin):
    researcher = make_user("rosa", "researcher", [project])
    imported = make_user("import-7", "rater", [project])
    imported.set_unusable_password()  # a stand-in for an imported ratings.csv rater
    imported.save()
    departed = make_user("dora", "rater", [project])
    departed.is_active = False
    departed.save()
    RaterBlock.objects.create(project=project, rater=other_rater)
    assert active_rater_ids(project) == {rater.pk}
    assert researcher.pk not in active_rater_ids(project)


def test_cap_never_below_one_and_never_above_the_maximum(project):
    project.max_raters = 4
    assert raters_cap(project=project, available=0, n_ratings=0) == 1
    assert raters_cap(project=project, available=0, n_ratings=2) == 2
    assert raters_cap(project=project, available=9, n_ratings=1) == 4


def test_deferred_clips_are_offered_before_nothing_left(client_for, rater, project, media_root):
    clips = make_clips(project, 3)
    Clip.objects.filter(pk__in=[c.pk for c in clips]).update(
        state=ClipState.DEFERRED, ratings_wanted=0, priority=0.0
    )
    Clip.objects.filter(pk=clips[2].pk).update(priority=0.5)  # the learner wants it most
    client = client_for(rater)
    seen = [_lease_and_rate(client, project, {"arousal": 0.1, "valence": 0.1}) for _ in range(3)]
    assert seen[0] == clips[2].pk
    assert sorted(seen) == sorted(c.pk for c in clips)
    # Now every clip is rated by this rater: that, and only that, is "nothing left".
    assert client.post(f"/api/v1/projects/{project.pk}/next/").status_code == 204


def test_nothing_left_when_only_machine_labelled_or_rated_clips_remain(
    client_for, rater, project, media_root
):
    clips = make_clips(project, 2)
    Clip.objects.filter(pk=clips[0].pk).update(state=ClipState.MACHINE_LABELLED)
    Clip.objects.filter(pk=clips[1].pk).update(state=ClipState.RATED)
    response = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/")
    assert response.status_code == 204
    assert Clip.objects.get(pk=clips[0].pk).state == ClipState.MACHINE_LABELLED


def test_excluding_a_raters_ratings_changes_the_label_and_back(
    client_for, rater, other_rater, project, admin, media_root
):
    from annotate.services.blocks import rater_block, rater_unblock

    clips = make_clips(project, 1)
    for user, value in ((rater, 0.5), (other_rater, -0.5)):
        _lease_and_rate(client_for(user), project, {"arousal": value, "valence": 0.0})

    def arousal() -> Label:
        return Label.objects.get(clip=clips[0], target="arousal", revoked_at=None)

    assert arousal().value == pytest.approx(0.0)
    assert arousal().n_ratings == 2
    rater_block(project=project, rater=rater, by=admin, reason="spam", exclude_ratings=True)
    assert arousal().value == pytest.approx(-0.5)
    assert arousal().n_ratings == 1
    rater_unblock(project=project, rater=rater, by=admin)
    assert arousal().value == pytest.approx(0.0)
    assert arousal().n_ratings == 2


def test_a_clip_whose_only_ratings_are_excluded_goes_back_to_humans(
    client_for, rater, other_rater, project, admin, media_root
):
    from annotate.services.blocks import rater_block

    project.min_raters = 1
    project.save()
    RaterBlock.objects.create(project=project, rater=other_rater)  # a team of one
    clips = make_clips(project, 1)
    _lease_and_rate(client_for(rater), project, {"arousal": 0.5, "valence": 0.5})
    assert Clip.objects.get(pk=clips[0].pk).state == ClipState.RATED
    rater_block(project=project, rater=rater, by=admin, reason="spam", exclude_ratings=True)
    clip = Clip.objects.get(pk=clips[0].pk)
    assert clip.state == ClipState.AWAITING_HUMANS  # its only rating no longer counts
    assert clip.ratings_wanted >= 1
    assert not Label.objects.filter(clip=clip, source="human", revoked_at=None).exists()


def test_a_blocked_rater_is_told_so_and_gets_no_clip(client_for, rater, project, clips, admin):
    from annotate.services.blocks import rater_block, rater_unblock

    rater_block(project=project, rater=rater, by=admin, reason="", exclude_ratings=False)
    response = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/")
    assert response.status_code == 403
    assert response.json()["code"] == "rater_blocked"
    assert response.json()["detail"]  # a sentence the rater page shows
    assert not Clip.objects.filter(active_leases__gt=0).exists()
    rater_unblock(project=project, rater=rater, by=admin)
    assert client_for(rater).post(f"/api/v1/projects/{project.pk}/next/").status_code == 200


def test_blocking_a_rater_frees_their_lease_at_once(client_for, rater, project, clips, admin):
    from annotate.models import Assignment
    from annotate.services.blocks import rater_block

    lease = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/").json()
    clip = Clip.objects.get(pk=lease["clip"]["id"])
    assert clip.active_leases == 1
    rater_block(project=project, rater=rater, by=admin, reason="", exclude_ratings=False)
    clip.refresh_from_db()
    assert clip.active_leases == 0
    assert Assignment.objects.get(pk=lease["assignment"]["id"]).status == "expired"


def test_a_clip_counts_the_active_raters_who_have_not_rated_it(
    client_for, project, rater, other_rater, clips
):
    """The settlement's count (in SQL, per rating) follows the same rule as
    active_rater_ids: here the one rater left after a block rates, and nobody else can."""
    from annotate.learning.settle import clip_settlement

    make_user("rosa", "researcher", [project])
    third = make_user("tess", "rater", [project])
    RaterBlock.objects.create(project=project, rater=other_rater)
    project.min_raters, project.max_raters = 3, 5
    project.save()
    clip_id = _lease_and_rate(client_for(rater), project, {"arousal": 0.1, "valence": 0.0})
    clip = Clip.objects.get(pk=clip_id)
    assert active_rater_ids(project) == {rater.pk, third.pk}
    # One rating, and one active rater (tess) who has not rated it: 2 of the 3 wanted.
    assert clip_settlement(clip=clip, project=project).settlement.ratings_wanted == 2
    third.is_active = False
    third.save()
    assert clip_settlement(clip=clip, project=project).settlement.ratings_wanted == 1


def test_a_rating_counts_the_crowd_only_up_to_the_maximum(project, clips):
    """A crowd larger than max_raters is counted up to max_raters (no clip wants more), so
    a rating reads a few members, not the whole crowd; a crowd as large as the maximum is
    counted whole."""
    from annotate.learning.settle import settlement_reads
    from annotate.rawsql import fetch_sets

    project.max_raters = 3
    project.save()
    for i in range(3):
        make_user(f"crowd-{i}", "rater", [project])

    def available() -> int:
        *_, ((count,),) = fetch_sets(settlement_reads(clip_id=clips[0].pk, project=project))
        return count

    assert available() == 3
    for i in range(3, 8):
        make_user(f"crowd-{i}", "rater", [project])
    assert available() == 3
    project.max_raters = 5
    project.save()
    assert available() == 5
    assert raters_cap(project=project, available=available(), n_ratings=0) == 5
