"""What follows ratings runs once per burst: a pass that began after a rating was
requested has read it, so the requests it covers do nothing (annotate.services.catch_up)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from annotate.models import Project
from annotate.services import catch_up


def test_a_pass_serves_every_request_made_before_it_began(project):
    calls = []
    with mock.patch(
        "annotate.services.raters.rater_reliability_update",
        side_effect=lambda project_id: calls.append(project_id) or {},
    ):
        asked = timezone.now()
        catch_up.project_after_ratings(project_id=project.pk, requested_at=asked)
        assert calls == [project.pk]
        began = Project.objects.get(pk=project.pk).ratings_processed_at
        assert began >= asked
        # Requests queued behind that pass (a burst of ratings) find it done.
        for _ in range(3):
            catch_up.project_after_ratings(project_id=project.pk, requested_at=asked)
        catch_up.project_after_ratings(project_id=project.pk, requested_at=began)
        assert calls == [project.pk]
        # A rating after the pass began gets a pass of its own; so does a call asking none.
        catch_up.project_after_ratings(
            project_id=project.pk, requested_at=began + timedelta(microseconds=1)
        )
        catch_up.project_after_ratings(project_id=project.pk)
        assert calls == [project.pk] * 3


def test_a_failed_pass_serves_nothing(project):
    asked = timezone.now()
    with (
        mock.patch(
            "annotate.services.raters.rater_reliability_update", side_effect=RuntimeError("db down")
        ),
        pytest.raises(RuntimeError),
    ):
        catch_up.project_after_ratings(project_id=project.pk, requested_at=asked)
    assert Project.objects.get(pk=project.pk).ratings_processed_at is None


def test_passes_start_at_most_once_per_interval(project, settings):
    """Requests within CONCORD_AFTER_RATINGS_SECONDS of the last pass's start share one
    deferred pass, due when that time is up; it runs whatever its requests asked."""
    settings.CONCORD_AFTER_RATINGS_SECONDS = 5
    passes, sent = [], []

    def send(task, *args):
        sent.append(args)
        return True

    with (
        mock.patch(
            "annotate.services.raters.rater_reliability_update",
            side_effect=lambda project_id: passes.append(project_id) or {},
        ),
        mock.patch("annotate.queueing.enqueue", side_effect=send),
    ):
        catch_up.project_after_ratings_requested(project_id=project.pk, requested_at=timezone.now())
        assert len(passes) == 1  # the first pass runs at once
        assert sent == []
        began = Project.objects.get(pk=project.pk).ratings_processed_at
        for _ in range(3):  # a burst: one deferred pass for all of it
            catch_up.project_after_ratings_requested(
                project_id=project.pk, requested_at=timezone.now()
            )
        assert len(passes) == 1
        assert sent == [(project.pk, None, True)]
        due = Project.objects.get(pk=project.pk).after_ratings_due_at
        assert due == began + timedelta(seconds=5)
        # The deferred pass waits until it is due, clears its mark and runs; later
        # requests defer the next one.
        with mock.patch("annotate.services.catch_up.time.sleep") as slept:
            catch_up.project_after_ratings_requested(
                project_id=project.pk, requested_at=None, deferred=True
            )
        assert 0 < slept.call_args.args[0] <= 5
        assert len(passes) == 2
        assert Project.objects.get(pk=project.pk).after_ratings_due_at is None
        catch_up.project_after_ratings_requested(project_id=project.pk, requested_at=timezone.now())
        assert len(passes) == 2
        assert len(sent) == 2


def test_a_request_while_a_pass_runs_defers_one_instead_of_running_beside_it(project, settings):
    """Two worker processes taking two ratings' messages at the same instant both ran a
    whole pass side by side (bench.load run 31's worker log: two 2.5-s passes at once).
    The pass that runs at once is claimed in one statement: a request made while it runs
    defers the next pass, due an interval after it began."""
    settings.CONCORD_AFTER_RATINGS_SECONDS = 5
    passes, sent = [], []

    def a_pass(project_id):
        passes.append(project_id)
        if len(passes) == 1:  # another message, taken while this pass runs
            catch_up.project_after_ratings_requested(
                project_id=project_id, requested_at=timezone.now()
            )
        return {}

    with (
        mock.patch("annotate.services.raters.rater_reliability_update", side_effect=a_pass),
        mock.patch(
            "annotate.queueing.enqueue", side_effect=lambda task, *args: sent.append(args) or True
        ),
    ):
        catch_up.project_after_ratings_requested(project_id=project.pk, requested_at=timezone.now())
    assert passes == [project.pk]
    assert sent == [(project.pk, None, True)]
    state = Project.objects.get(pk=project.pk)
    assert state.after_ratings_due_at == state.after_ratings_started_at + timedelta(seconds=5)


def test_a_failed_pass_releases_its_claim_so_its_retry_runs_at_once(project, settings):
    settings.CONCORD_AFTER_RATINGS_SECONDS = 5
    attempts = []

    def flaky(project_id):
        attempts.append(project_id)
        if len(attempts) == 1:
            raise RuntimeError("db down")
        return {}

    with (
        mock.patch("annotate.services.raters.rater_reliability_update", side_effect=flaky),
        mock.patch("annotate.queueing.enqueue") as sent,
    ):
        with pytest.raises(RuntimeError):
            catch_up.project_after_ratings_requested(
                project_id=project.pk, requested_at=timezone.now()
            )
        assert Project.objects.get(pk=project.pk).after_ratings_started_at is None
        catch_up.project_after_ratings_requested(project_id=project.pk, requested_at=timezone.now())
    assert attempts == [project.pk, project.pk]
    assert not sent.called


def test_a_lost_deferred_pass_does_not_hold_later_ratings_back(project, settings):
    settings.CONCORD_AFTER_RATINGS_SECONDS = 5
    passes, sent = [], []
    with (
        mock.patch(
            "annotate.services.raters.rater_reliability_update",
            side_effect=lambda project_id: passes.append(project_id) or {},
        ),
        mock.patch(
            "annotate.queueing.enqueue",
            side_effect=lambda task, *args: sent.append(args) or False,
        ),
    ):
        catch_up.project_after_ratings_requested(project_id=project.pk, requested_at=timezone.now())
        # The broker refuses the deferred pass: no mark is left, the next request retries.
        catch_up.project_after_ratings_requested(project_id=project.pk, requested_at=timezone.now())
        assert Project.objects.get(pk=project.pk).after_ratings_due_at is None
        # A deferred pass sent but lost with the broker counts as lost after a minute.
        Project.objects.filter(pk=project.pk).update(
            after_ratings_due_at=timezone.now() - catch_up.DEFERRED_PASS_GRACE - timedelta(1)
        )
        catch_up.project_after_ratings_requested(project_id=project.pk, requested_at=timezone.now())
        assert len(sent) == 2
        # Once the interval is up a request runs its pass at once, whatever is pending.
        Project.objects.filter(pk=project.pk).update(
            ratings_processed_at=timezone.now() - timedelta(seconds=6),
            after_ratings_started_at=timezone.now() - timedelta(seconds=6),
        )
        catch_up.project_after_ratings_requested(project_id=project.pk, requested_at=timezone.now())
        assert len(passes) == 2


def test_a_rating_sends_no_message_while_a_deferred_pass_is_pending(project):
    """The pending pass clears its mark before it reads any rating, so a rating committed
    while the mark stands is read by it: the request sends no message, and no worker runs
    a task for it. A lost pass (past the grace) no longer holds ratings back."""
    from annotate.services import ratings

    sent = []
    with mock.patch(
        "annotate.services.ratings.enqueue", side_effect=lambda task, *args: sent.append(args)
    ):
        ratings._after_rating(project.pk)
        assert len(sent) == 1
        Project.objects.filter(pk=project.pk).update(
            after_ratings_due_at=timezone.now() + timedelta(seconds=3)
        )
        ratings._after_rating(project.pk)
        assert len(sent) == 1
        Project.objects.filter(pk=project.pk).update(
            after_ratings_due_at=timezone.now() - catch_up.DEFERRED_PASS_GRACE - timedelta(1)
        )
        ratings._after_rating(project.pk)
        assert len(sent) == 2
