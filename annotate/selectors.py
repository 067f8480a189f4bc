"""Read queries, scoped by who is asking."""

from datetime import datetime, time
from functools import cache

from django.contrib.auth.models import User
from django.core.cache import cache as django_cache
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from annotate.access import projects_visible_to, user_role
from annotate.models import (
    QUEUE_ORDER,
    Clip,
    ClipState,
    Label,
    ModelVersion,
    Project,
    Rating,
    Role,
    TrainingRun,
)
from annotate.rawsql import fetchone, table, when

STATE_KEYS = ("new", "awaiting_humans", "leased", "rated", "machine_labelled", "deferred")


def clip_state_q(key: str) -> Q:
    """The one definition of each key of STATE_KEYS, for counting (project_stats) and
    filtering (the clip list's `?state=`) alike.

    `leased` is a clip awaiting humans with a slot leased out, by `active_leases`, the
    counter the queue leases against (overdue leases give their slot back every 30 s
    and whenever a rater asks for a clip); `awaiting_humans` is one with none leased.
    """
    if key == "leased":
        return Q(state=ClipState.AWAITING_HUMANS, active_leases__gt=0)
    if key == ClipState.AWAITING_HUMANS:
        return Q(state=ClipState.AWAITING_HUMANS, active_leases=0)
    if key not in STATE_KEYS:
        raise ValueError(f"unknown clip state {key!r}")
    return Q(state=key)


def clip_state_counts(clips: QuerySet[Clip]) -> dict[str, int]:
    """Clips per key of STATE_KEYS (clip_state_q), in one query."""
    counts: dict[str, int] = clips.aggregate(
        **{key: Count("id", filter=clip_state_q(key)) for key in STATE_KEYS}
    )
    return counts


def project_stats(*, project: Project) -> dict:
    """Counts of clips per state (clip_state_counts: `leased` are clips awaiting humans
    with a slot leased out), ratings, raters and live labels by source."""
    states = clip_state_counts(Clip.objects.filter(project=project))
    labels = Label.objects.filter(clip__project=project, revoked_at__isnull=True)
    return {
        "clips": sum(states.values()),
        "ratings": Rating.objects.filter(clip__project=project).count(),
        "states": states,
        "labels": dict(
            labels.values_list("source").annotate(n=Count("id")).values_list("source", "n")
        ),
        "raters": Rating.objects.filter(clip__project=project).values("rater").distinct().count(),
    }


def project_raters(*, project: Project) -> list[dict]:
    """Everyone who rated in the project or is blocked there: volume, speed, noise,
    agreement with the crowd and with gold, flags and block state
    (annotate.selectors_raters); the noisiest first, unmeasured last."""
    from annotate.selectors_raters import raters_overview

    return raters_overview(project=project)


# How long a project's count of clips awaiting humans is reused for raters' progress,
# while it is at least AWAITING_EXACT_BELOW: counting thousands is a scan of the pool, and
# then `left` is a number a rater reads, not a rule. Near the end it is counted each time
# (an index scan over the few left), so a rater who is done reads 0.
AWAITING_COUNT_SECONDS = 5
AWAITING_EXACT_BELOW = 500


@cache
def _rater_done_sql(vendor: str) -> str:
    return f"""
        SELECT COUNT(r.id),
            COALESCE(SUM(CASE WHEN r.created_at >= %s THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN c.state = %s THEN 1 ELSE 0 END), 0)
        FROM {table(Rating)} r JOIN {table(Clip)} c ON c.id = r.clip_id
        WHERE r.rater_id = %s AND c.project_id = %s
    """


def _awaiting_count(project: Project) -> int:
    key = f"concord:awaiting-humans:{project.pk}"
    count = django_cache.get(key)
    if count is None or count < AWAITING_EXACT_BELOW:
        count = Clip.objects.filter(project=project, state=ClipState.AWAITING_HUMANS).count()
        django_cache.set(key, count, AWAITING_COUNT_SECONDS)
    return count


def rater_progress(*, rater: User, project: Project) -> dict:
    """What a rater has done, and how many clips are still open to them.

    `left` counts clips awaiting humans that the rater has not rated, as the difference
    of two counts rather than an anti-join over the whole pool. The rater's own counts
    are one query in SQL written once (annotate.rawsql); the project's count of clips
    awaiting humans is reused for AWAITING_COUNT_SECONDS while it is large, so `left` may
    then lag that much.
    """
    today = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    row = fetchone(
        _rater_done_sql(connection.vendor),
        [when(today), ClipState.AWAITING_HUMANS, rater.pk, project.pk],
    )
    assert row is not None  # an aggregate without GROUP BY has one row
    done_total, done_today, awaiting_rated = (int(v) for v in row)
    left = max(_awaiting_count(project) - awaiting_rated, 0)
    return {"done_today": done_today, "done_total": done_total, "left": left}


def clips_for_staff(
    *, project: Project, state: str | None = None, ordering: str | None = None
) -> QuerySet[Clip]:
    """A project's clips; `ordering="queue"` lists them in the order raters get them."""
    clips = Clip.objects.filter(project=project).prefetch_related("labels", "reference_labels")
    if state:
        clips = clips.filter(state=state)
    if ordering == "queue":
        return clips.order_by(*QUEUE_ORDER)
    return clips.order_by("id")


def ratings_visible_to(*, user: User, project: Project | None = None) -> QuerySet[Rating]:
    """Raters see their own ratings; researchers those of their projects and their own;
    admins all. `project` is already resolved through annotate.access."""
    ratings = Rating.objects.select_related("clip").order_by("id")
    if project is not None:
        ratings = ratings.filter(clip__project=project)
    role = user_role(user)
    if role == Role.RATER:
        return ratings.filter(rater=user)
    if role == Role.RESEARCHER:
        return ratings.filter(Q(clip__project__in=projects_visible_to(user)) | Q(rater=user))
    return ratings


def project_training_runs(*, project: Project) -> QuerySet[TrainingRun]:
    """A project's training runs, the newest first, with their model versions."""
    return TrainingRun.objects.filter(project=project).select_related("model_version")


def project_model_versions(*, project: Project) -> QuerySet[ModelVersion]:
    """A project's model versions, the newest first."""
    return ModelVersion.objects.filter(project=project)
