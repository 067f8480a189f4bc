"""The rater's two hot responses (next clip, rating) built as plain dicts.

A DRF serializer copies its declared fields on every instantiation (a ModelSerializer
builds them from the model each time): about a millisecond of CPU per response on the
next-clip and rating requests, more than their queries cost (bench.load). These functions
give exactly what the serializers named beside each would (tests/annotate/
test_representations.py compares them); the serializers stay the schema.
"""

from datetime import datetime

from rest_framework import serializers

from annotate.models import Assignment, Clip, Rating, Target

# Stateless field instances, for values whose format DRF decides (dates, time zone).
_DATETIME = serializers.DateTimeField()


def _datetime(value: datetime | None) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


def target_representation(target: Target) -> dict:
    """As annotate.api.serializers.TargetSerializer."""
    return {
        "name": target.name,
        "min": float(target.scale_min),
        "max": float(target.scale_max),
        "anchor_low": target.anchor_low,
        "anchor_high": target.anchor_high,
        "rater_noise": None if target.rater_noise is None else float(target.rater_noise),
        "rater_noise_clips": int(target.rater_noise_clips),
    }


def next_clip_representation(
    *,
    assignment: Assignment,
    clip: Clip,
    audio_url: str,
    duration_s: float,
    targets: list[Target],
    progress: dict,
) -> dict:
    """As annotate.api.projects.NextClipOutput."""
    return {
        "assignment": {"id": int(assignment.pk), "expires_at": _datetime(assignment.expires_at)},
        "clip": {
            "id": int(clip.pk),
            "audio_url": audio_url,
            "duration_s": float(duration_s),
            "peaks": [None if p is None else float(p) for p in clip.peaks],
        },
        "targets": [target_representation(t) for t in targets],
        "progress": {k: int(progress[k]) for k in ("done_today", "done_total", "left")},
    }


def rating_representation(rating: Rating) -> dict:
    """As annotate.api.serializers.RatingSerializer."""
    return {
        "id": rating.pk,
        "assignment": rating.assignment_id,
        "clip": rating.clip_id,
        "values": rating.values,
        "time_spent_ms": rating.time_spent_ms,
        "client_token": rating.client_token,
        "created_at": _datetime(rating.created_at),
    }
