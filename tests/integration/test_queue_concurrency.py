"""The next-clip queue under parallel clients on PostgreSQL, over real HTTP."""

import threading
import uuid

import pytest
import requests

from annotate.models import Assignment, AssignmentStatus, Clip
from tests.conftest import make_clips, make_project, make_user

pytestmark = pytest.mark.integration


@pytest.fixture
def pg(transactional_db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL: set DATABASE_URL=postgres://...")


def tokens_for(users) -> list[str]:
    from rest_framework.authtoken.models import Token

    return [Token.objects.create(user=user).key for user in users]


def ask_all_at_once(url: str, tokens: list[str]) -> list[requests.Response]:
    barrier = threading.Barrier(len(tokens))
    responses: list = [None] * len(tokens)

    def ask(i: int) -> None:
        barrier.wait()
        responses[i] = requests.post(
            url, headers={"Authorization": f"Token {tokens[i]}"}, timeout=30
        )

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_sixteen_raters_asking_at_once_never_share_the_last_slot(pg, live_server, media_root):
    project = make_project(min_raters=1, max_raters=1)
    make_clips(project, 1)
    raters = [make_user(f"r{i}", "rater", [project]) for i in range(16)]
    responses = ask_all_at_once(
        f"{live_server.url}/api/v1/projects/{project.pk}/next/", tokens_for(raters)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [204] * 15
    assert Assignment.objects.filter(status=AssignmentStatus.ACTIVE).count() == 1
    assert Clip.objects.get().active_leases == 1


def test_parallel_raters_never_overfill_any_clip(pg, live_server, media_root):
    project = make_project(min_raters=2, max_raters=2)
    clips = make_clips(project, 5)
    raters = [make_user(f"r{i}", "rater", [project]) for i in range(14)]
    tokens = tokens_for(raters)
    responses = ask_all_at_once(f"{live_server.url}/api/v1/projects/{project.pk}/next/", tokens)
    leased = [r.json()["clip"]["id"] for r in responses if r.status_code == 200]
    # 5 clips x 2 slots: 10 leases, 4 raters told nothing is left, no clip over 2.
    assert len(leased) == 10
    assert sum(r.status_code == 204 for r in responses) == 4
    assert all(leased.count(clip.pk) == 2 for clip in clips)
    for clip in Clip.objects.all():
        active = Assignment.objects.filter(clip=clip, status=AssignmentStatus.ACTIVE).count()
        assert active == clip.active_leases <= clip.ratings_wanted - clip.n_ratings


def test_parallel_replays_of_one_rating_store_it_once(pg, live_server, media_root):
    project = make_project(min_raters=1)
    make_clips(project, 1)
    rater = make_user("rita", "rater", [project])
    (token,) = tokens_for([rater])
    headers = {"Authorization": f"Token {token}"}
    lease = requests.post(
        f"{live_server.url}/api/v1/projects/{project.pk}/next/", headers=headers, timeout=30
    ).json()
    body = {"values": {"arousal": 0.4, "valence": 0.1}, "client_token": uuid.uuid4().hex}
    url = f"{live_server.url}/api/v1/assignments/{lease['assignment']['id']}/rating/"
    barrier = threading.Barrier(8)
    results = []

    def send() -> None:
        barrier.wait()
        results.append(requests.post(url, json=body, headers=headers, timeout=30))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    from annotate.models import Rating

    assert Rating.objects.count() == 1
