"""The few audited functions through which every view reaches a project and its objects.

Each `*_get_for_*` function filters by what the user may see in the same query as the
lookup, so an object the user may not see is a NotFound before anything of it is read;
only then does it check the user's role (PermissionDenied). A NotFound says the same for
an object that does not exist and for one that is not the user's, word for word: it never
tells a non-member that an object exists, nor which project owns it.
"""

from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Exists, OuterRef, QuerySet, Subquery
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


def project_get_for_rater(
    *, user: User, project_id: int, now: datetime
) -> tuple[Project, RaterState]:
    """A project the user may take part in (as project_get_for_member), with what the
    next-clip request needs to know of the user's standing and leases there (one query)."""
    leases = Assignment.objects.filter(project=OuterRef("pk"), status=AssignmentStatus.ACTIVE)
    profile = RaterProfile.objects.filter(user=user)
    project = (
        projects_visible_to(user)
        .filter(pk=project_id)
        .annotate(
            rater_blocked=Exists(RaterBlock.objects.filter(project=OuterRef("pk"), rater=user)),
            overdue_leases=Exists(leases.filter(expires_at__lte=now)),
            live_lease_id=Subquery(
                leases.filter(rater=user, expires_at__gt=now).order_by("id").values("id")[:1]
            ),
            rater_reliability=Subquery(profile.values("reliability")),
            rater_reliability_n=Subquery(profile.values("reliability_n")),
        )
        .first()
    )
    if project is None:
        raise _not_found("project", "no_project")
    # The annotations above.
    return project, RaterState(
        blocked=bool(project.rater_blocked),
        overdue_leases=bool(project.overdue_leases),
        live_lease_id=project.live_lease_id,
        reliability=project.rater_reliability,
        reliability_n=project.rater_reliability_n,
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


def assignment_get_for_rater(*, user: User, assignment_id: int, live: bool = False) -> Assignment:
    """The user's own assignment (with its clip and project), in a project they still
    belong to and are not blocked in; with `live`, only while the lease runs (not rated,
    not expired): the audio of a lease is served for that time only.

    Someone else's lease, a lease in a project the rater left or was blocked in, and (with
    `live`) a finished lease are the same NotFound as a missing one: a removal or a block
    takes effect on the next request.
    """
    assignments = (
        Assignment.objects.select_related("clip", "project")
        .filter(pk=assignment_id, rater=user, project__in=projects_visible_to(user))
        .exclude(project__in=RaterBlock.objects.filter(rater=user).values("project"))
    )
    if live:
        assignments = assignments.filter(
            status=AssignmentStatus.ACTIVE, expires_at__gt=timezone.now()
        )
    assignment = assignments.first()
    if assignment is None:
        raise _not_found("assignment", "no_assignment")
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
