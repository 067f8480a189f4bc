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
