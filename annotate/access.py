"""The few audited functions through which every view reaches a project and its objects.

Each `*_get_for_*` function filters by what the user may see in the same query as the
lookup, so an object the user may not see is a NotFound before anything of it is read;
only then does it check the user's role (PermissionDenied). A NotFound says the same for
an object that does not exist and for one that is not the user's, word for word: it never
tells a non-member that an object exists, nor which project owns it.
"""

from datetime import datetime
from functools import cache
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from annotate.errors import NotFound, PermissionDenied
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Clip,
    Project,
    RaterBlock,
    RaterProfile,
    Role,
    TrainingRun,
)
from annotate.rawsql import columns, fetchone, instance, table, when, width
from annotate.services.assignments import RaterState


def signed_in(request: Request | HttpRequest) -> User:
    """The request's user; every view that calls this requires a signed-in one."""
    user: User | AnonymousUser = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def user_role(user: User) -> str:
    """A user's role; superusers are admins, users without a profile are raters."""
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    profile = getattr(user, "profile", None)
    return profile.role if profile is not None else Role.RATER


def projects_visible_to(user: User) -> QuerySet[Project]:
    """Admins see every project; researchers and raters those they are members of."""
    if user_role(user) == Role.ADMIN:
        return Project.objects.all()
    return Project.objects.filter(members=user)


def _not_found(kind: str, code: str) -> NotFound:
    # The same body, without the id, whether the object is missing or not the user's.
    return NotFound(f"this {kind} does not exist or is not yours", code=code)


def require_staff(user: User) -> None:
    if user_role(user) == Role.RATER:
        raise PermissionDenied("only researchers and admins may do this", code="staff_only")


def require_admin(user: User) -> None:
    if user_role(user) != Role.ADMIN:
        raise PermissionDenied("only admins may do this", code="admin_only")


def project_get_for_member(*, user: User, project_id: int) -> Project:
    """A project the user may take part in (any role), else NotFound."""
    project = projects_visible_to(user).filter(pk=project_id).first()
    if project is None:
        raise _not_found("project", "no_project")
    return project


def _member_sql(project_id: str) -> str:
    members = table(Project.members.through)
    return (
        f"EXISTS (SELECT 1 FROM {members} m WHERE m.project_id = {project_id} AND m.user_id = %s)"
    )


def _blocked_sql(project_id: str) -> str:
    blocks = table(RaterBlock)
    return (
        f"EXISTS (SELECT 1 FROM {blocks} b WHERE b.project_id = {project_id} AND b.rater_id = %s)"
    )


@cache
def _project_for_rater_sql(vendor: str, admin: bool) -> str:
    leases = f"{table(Assignment)} a WHERE a.project_id = p.id AND a.status = %s"
    return f"""
        SELECT {columns(Project, "p")},
            {_blocked_sql("p.id")},
            EXISTS (SELECT 1 FROM {leases} AND a.expires_at <= %s),
            (SELECT a.id FROM {leases} AND a.rater_id = %s AND a.expires_at > %s
                ORDER BY a.id LIMIT 1),
            r.reliability, r.reliability_n
        FROM {table(Project)} p LEFT JOIN {table(RaterProfile)} r ON r.user_id = %s
        WHERE p.id = %s {"" if admin else "AND " + _member_sql("p.id")}
    """


def project_get_for_rater(
    *, user: User, project_id: int, now: datetime
) -> tuple[Project, RaterState]:
    """A project the user may take part in (as project_get_for_member), with what the
    next-clip request needs to know of the user's standing and leases there: one query,
    in SQL written once (annotate.rawsql)."""
    admin = user_role(user) == Role.ADMIN
    active, moment = AssignmentStatus.ACTIVE, when(now)
    params = [user.pk, active, moment, active, user.pk, moment, user.pk, project_id]
    if not admin:
        params.append(user.pk)
    row = fetchone(_project_for_rater_sql(connection.vendor, admin), params)
    if row is None:
        raise _not_found("project", "no_project")
    n = width(Project)
    blocked, overdue, live_lease_id, reliability, reliability_n = row[n : n + 5]
    return instance(Project, row), RaterState(
        blocked=bool(blocked),
        overdue_leases=bool(overdue),
        live_lease_id=live_lease_id,
        reliability=reliability,
        reliability_n=reliability_n,
    )


def project_get_for_staff(*, user: User, project_id: int) -> Project:
    """A project the user may manage (researcher member or admin), else 404/403."""
    project = project_get_for_member(user=user, project_id=project_id)
    require_staff(user)
    return project


def project_get_for_admin(*, user: User, project_id: int) -> Project:
    """Any project, for admins; a member who is not an admin gets 403, others 404."""
    project = project_get_for_member(user=user, project_id=project_id)
    require_admin(user)
    return project


@cache
def _assignment_for_rater_sql(vendor: str, admin: bool, live: bool) -> str:
    return f"""
        SELECT {columns(Assignment, "a")}, {columns(Clip, "c")}, {columns(Project, "p")}
        FROM {table(Assignment)} a
            JOIN {table(Clip)} c ON c.id = a.clip_id
            JOIN {table(Project)} p ON p.id = a.project_id
        WHERE a.id = %s AND a.rater_id = %s AND NOT {_blocked_sql("a.project_id")}
            {"" if admin else "AND " + _member_sql("a.project_id")}
            {"AND a.status = %s AND a.expires_at > %s" if live else ""}
    """


def assignment_get_for_rater(*, user: User, assignment_id: int, live: bool = False) -> Assignment:
    """The user's own assignment (with its clip and project), in a project they still
    belong to and are not blocked in; with `live`, only while the lease runs (not rated,
    not expired): the audio of a lease is served for that time only. One query, in SQL
    written once (annotate.rawsql).

    Someone else's lease, a lease in a project the rater left or was blocked in, and (with
    `live`) a finished lease are the same NotFound as a missing one: a removal or a block
    takes effect on the next request.
    """
    admin = user_role(user) == Role.ADMIN
    params: list[Any] = [assignment_id, user.pk, user.pk]
    if not admin:
        params.append(user.pk)
    if live:
        params += [AssignmentStatus.ACTIVE, when(timezone.now())]
    row = fetchone(_assignment_for_rater_sql(connection.vendor, admin, live), params)
    if row is None:
        raise _not_found("assignment", "no_assignment")
    assignment = instance(Assignment, row)
    assignment.clip = instance(Clip, row, width(Assignment))
    assignment.project = instance(Project, row, width(Assignment) + width(Clip))
    return assignment


def clip_get_for_staff(*, user: User, clip_id: int) -> Clip:
    """A clip of a project the user may manage: NotFound outside their projects, 403 for
    the project's raters."""
    clip = Clip.objects.filter(pk=clip_id, project__in=projects_visible_to(user)).first()
    if clip is None:
        raise _not_found("clip", "no_clip")
    require_staff(user)
    return clip


def training_run_get_for_staff(*, user: User, run_id: int) -> TrainingRun:
    """A training run (with its model version) of a project the user may manage:
    NotFound outside their projects, 403 for the project's raters."""
    run = (
        TrainingRun.objects.select_related("model_version")
        .filter(pk=run_id, project__in=projects_visible_to(user))
        .first()
    )
    if run is None:
        raise _not_found("training run", "no_run")
    require_staff(user)
    return run
