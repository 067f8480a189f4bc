"""Each web process's copy of a project's targets, read once per change, not per request.

A rater's next clip and rating both need the project's targets (names, scales, anchors
and the crowd's noise). The copy is keyed by the project's `targets_version`, which a
target's save or delete raises in the same transaction (annotate.models.Target), and
callers pass the project row they read in this request: an admin's change, or the
worker's new estimate of the crowd's noise, applies on the next request in every process.
"""

from django.db import connection

from annotate.models import Project, Target

# (database, project id) -> ((targets_version, created_at), targets). created_at tells a
# project apart from an earlier one that had the same id (SQLite may reuse it).
_copies: dict[tuple[str, int], tuple[tuple, tuple[Target, ...]]] = {}


def project_targets(project: Project) -> list[Target]:
    """The project's targets in order, as of the `project` row the caller read."""
    key = (connection.settings_dict["NAME"], project.pk)
    stamp = (project.targets_version, project.created_at)
    copy = _copies.get(key)
    if copy is None or copy[0] != stamp:
        copy = (stamp, tuple(Target.objects.filter(project_id=project.pk)))
        _copies[key] = copy
    return list(copy[1])
