"""The queue refresh writes each queued clip its rank as its priority and defers the rest
of the fresh pool; a clip a rating holds locked is skipped rather than waited for; it
writes only the ranks that moved, runs only once the labels have grown, and the scoring
pass leaves it the open pool's order."""

import threading

import numpy as np
import pytest
from django.db import connection, transaction

from annotate.learning.queue import QueueOrder
from annotate.models import Clip, ClipState, Label, LabelSource
from annotate.services import queue
from tests.conftest import clip_writes, make_clips, make_project


def _order(clips, priorities) -> QueueOrder:
    ids = np.array([c.pk for c in clips], dtype=np.int64)
    return QueueOrder(
        labelled=10, open_ids=ids, queued_ids=ids[: len(priorities)], priority=np.array(priorities)
    )


@pytest.mark.django_db
def test_a_refresh_writes_each_queued_clip_its_priority_and_defers_the_rest(
    monkeypatch, media_root
):
    project = make_project("refresh")
    clips = make_clips(project, 5)
    monkeypatch.setattr(queue, "PRIORITY_BATCH", 2)  # three batches for three clips
    monkeypatch.setattr(queue, "queue_order", lambda project: _order(clips, [0.9, 0.25, 0.5]))
    result = queue.queue_refresh(project_id=project.pk)
    assert result is not None
    assert (result.queued, result.deferred) == (3, 2)
    rows = dict(Clip.objects.filter(project=project).values_list("id", "priority"))
    states = dict(Clip.objects.filter(project=project).values_list("id", "state"))
    assert [rows[c.pk] for c in clips] == [1.0, 1 / 3, 2 / 3, 0.0, 0.0]
    assert [states[c.pk] for c in clips[3:]] == [ClipState.DEFERRED] * 2


@pytest.mark.django_db(transaction=True)
def test_a_refresh_skips_a_clip_a_rating_holds_locked(monkeypatch, media_root):
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("this database has no row locks (SQLite locks the whole file)")
    project = make_project("refresh-locked")
    clips = make_clips(project, 3)
    monkeypatch.setattr(queue, "queue_order", lambda project: _order(clips, [0.7, 0.6, 0.4]))
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def rating_in_progress() -> None:
        with transaction.atomic():
            Clip.objects.select_for_update().get(pk=clips[1].pk)
            held.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=rating_in_progress)
    holder.start()
    try:
        assert held.wait(10)

        def refresh() -> None:
            queue.queue_refresh(project_id=project.pk)
            done.set()
            connection.close()

        refresher = threading.Thread(target=refresh)
        refresher.start()
        finished = done.wait(10)  # it does not wait for the lock to go
    finally:
        release.set()
        holder.join()
    refresher.join()
    assert finished
    rows = dict(Clip.objects.filter(project=project).values_list("id", "priority"))
    assert [rows[c.pk] for c in clips] == [1.0, 0.0, 1 / 3]


@pytest.mark.django_db
def test_a_refresh_writes_only_the_ranks_that_moved(monkeypatch, media_root):
    """Each write leaves a dead row version at the head of the queue index: a rank within
    RANK_TOL of the stored one is left as it is."""
    project = make_project("refresh-moved")
    clips = make_clips(project, 40)
    first = [1.0 - i / 40 for i in range(40)]  # stored ranks 1.0, 0.975, ..., 0.025
    monkeypatch.setattr(queue, "queue_order", lambda project: _order(clips, first))
    queue.queue_refresh(project_id=project.pk)
    # Clip 39 jumps to the top, so clips 0-19 slide a place (within RANK_TOL); clip 20
    # drops from place 20 to 26, over RANK_TOL: only these two are rewritten.
    second = [*first]
    second[39], second[20] = 2.0, 1.0 - 25.5 / 40
    monkeypatch.setattr(queue, "queue_order", lambda project: _order(clips, second))
    written = clip_writes(monkeypatch, queue)
    queue.queue_refresh_due(project_ids=[project.pk])
    queue.queue_refresh(project_id=project.pk)
    assert written == [[(clips[20].pk, 0.35), (clips[39].pk, 1.0)]]


def _label(clip, value=0.0):
    Label.objects.create(clip=clip, target="arousal", value=value, source=LabelSource.HUMAN)


@pytest.mark.django_db
def test_a_refresh_waits_for_the_labels_to_grow_or_for_clips_to_reopen(monkeypatch, media_root):
    project = make_project("refresh-growth")
    clips = make_clips(project, 25)
    for clip in clips[:20]:
        _label(clip)
    calls = []

    def order(project):
        calls.append(project.pk)
        return _order(clips[20:], [0.5] * 5)

    monkeypatch.setattr(queue, "queue_order", order)
    assert queue.queue_refresh(project_id=project.pk) is not None
    project.refresh_from_db()
    assert project.queue_refreshed_labelled == 20
    _label(clips[20])  # 21 < 20 + 10 %: too few new labels to re-rank
    assert queue.queue_refresh(project_id=project.pk) is None
    _label(clips[21])  # 22: grown by a tenth
    assert queue.queue_refresh(project_id=project.pk) is not None
    queue.queue_refresh_due(project_ids=[project.pk])  # clips entered the pool elsewhere
    assert queue.queue_refresh(project_id=project.pk) is not None
    assert len(calls) == 3
