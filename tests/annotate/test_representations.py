"""The next-clip and rating responses are built as plain dicts (annotate.api.representations)
for speed; they must say exactly what the serializers that document them would."""

import uuid

import pytest
from django.utils import timezone

from annotate.api.projects import NextClipOutput
from annotate.api.representations import next_clip_representation, rating_representation
from annotate.api.serializers import RatingSerializer
from annotate.models import Clip, Rating, Target
from annotate.project_config import project_targets
from annotate.selectors import rater_progress
from annotate.services.assignments import assignment_next

pytestmark = pytest.mark.django_db


def test_the_next_clip_says_what_its_serializer_says(project, clips, rater):
    Target.objects.filter(project=project, name="valence").update(
        rater_noise=0.21, rater_noise_clips=14, anchor_low="sad"
    )
    Clip.objects.filter(pk=clips[0].pk).update(peaks=[0.0, 0.5, 1, 0.25])
    project.refresh_from_db()
    assignment = assignment_next(rater=rater, project=project)
    assert assignment is not None
    clip = assignment.clip
    clip.peaks = [0.0, 0.5, 1, 0.25]
    fields = {
        "audio_url": "http://testserver/api/v1/assignments/1/audio/",
        "duration_s": 1.3,
        "targets": project_targets(project),
        "progress": rater_progress(rater=rater, project=project),
    }
    ours = next_clip_representation(assignment=assignment, clip=clip, **fields)
    theirs = NextClipOutput(
        {
            "assignment": assignment,
            "clip": {
                "id": clip.pk,
                "audio_url": fields["audio_url"],
                "duration_s": fields["duration_s"],
                "peaks": clip.peaks,
            },
            "targets": fields["targets"],
            "progress": fields["progress"],
        }
    ).data
    assert ours == theirs
    assert {t["rater_noise"] for t in ours["targets"]} == {None, 0.21}  # both kinds compared


@pytest.mark.parametrize("time_spent_ms", [None, 2500])
def test_a_rating_says_what_its_serializer_says(project, clips, rater, time_spent_ms):
    lease = assignment_next(rater=rater, project=project)
    rating = Rating.objects.create(
        clip_id=lease.clip_id,
        rater=rater,
        assignment=lease,
        values={"arousal": 0.25, "valence": -1.0},
        time_spent_ms=time_spent_ms,
        client_token=uuid.uuid4().hex,
    )
    # A rating read back, and one without a lease (imported), as the response may carry.
    unleased = Rating.objects.create(
        clip_id=clips[-1].pk,
        rater=rater,
        values={"arousal": 0.0},
        client_token=uuid.uuid4().hex,
        created_at=timezone.now(),
    )
    for each in (rating, Rating.objects.get(pk=rating.pk), unleased):
        assert rating_representation(each) == RatingSerializer(each).data
