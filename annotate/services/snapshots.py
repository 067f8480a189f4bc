"""Snapshots of a project's counts, the points of the dashboard's charts over time.

A snapshot holds the clips per state (as `annotate.selectors.project_stats` counts them,
`leased` apart from `awaiting_humans`), the live labels per source and the ratings. The
beat task takes one of every project every few minutes; the dashboard takes one when it
is read and the newest is over a minute old, so a fresh project has points at once.

A snapshot equal to the newest one is not written unless that one is an hour old: an idle
project does not fill the table with copies, and the charts (drawn as steps) lose
nothing, since a count that did not change has the same line either way.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from annotate.models import Project, ProjectSnapshot
from annotate.selectors import project_stats

UNCHANGED_KEEPALIVE = timedelta(hours=1)
DASHBOARD_MAX_AGE = timedelta(minutes=1)


def project_snapshot_take(
    *, project: Project, now: datetime | None = None
) -> ProjectSnapshot | None:
    """Record the project's counts now; None when they equal the newest snapshot's and
    that one is under an hour old."""
    now = now or timezone.now()
    stats = project_stats(project=project)
    labels = {source: stats["labels"].get(source, 0) for source in ("human", "machine")}
    newest = ProjectSnapshot.objects.filter(project=project).order_by("-taken_at").first()
    if (
        newest is not None
        and now - newest.taken_at < UNCHANGED_KEEPALIVE
        and newest.states == stats["states"]
        and newest.labels == labels
        and newest.ratings == stats["ratings"]
    ):
        return None
    return ProjectSnapshot.objects.create(
        project=project, states=stats["states"], labels=labels, ratings=stats["ratings"]
    )


def project_snapshot_if_stale(
    *, project: Project, max_age: timedelta = DASHBOARD_MAX_AGE
) -> ProjectSnapshot | None:
    """Take a snapshot when the project has none younger than `max_age` (one cheap,
    indexed query otherwise)."""
    now = timezone.now()
    if ProjectSnapshot.objects.filter(project=project, taken_at__gt=now - max_age).exists():
        return None
    return project_snapshot_take(project=project, now=now)


def project_snapshots_take_all() -> int:
    """A snapshot of every project (the beat task); returns how many were written."""
    written = 0
    for project in Project.objects.order_by("id"):
        if project_snapshot_take(project=project) is not None:
            written += 1
    return written
