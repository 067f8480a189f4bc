"""The few audited functions through which every API reaches a project."""

from django.contrib.auth.models import AbstractBaseUser

from annotate.errors import NotFound, PermissionDenied
from annotate.models import Project, Role


def user_role(user: AbstractBaseUser) -> str:
    """A user's role; superusers are admins, users without a profile are raters."""
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    profile = getattr(user, "profile", None)
    return profile.role if profile is not None else Role.RATER


def projects_visible_to(user: AbstractBaseUser):
    """Admins see every project; researchers and raters those they are members of."""
    if user_role(user) == Role.ADMIN:
        return Project.objects.all()
    return Project.objects.filter(members=user)


def project_get_for_member(*, user: AbstractBaseUser, project_id: int) -> Project:
    """A project the user may take part in (any role), else NotFound."""
    project = projects_visible_to(user).filter(pk=project_id).first()
    if project is None:
        raise NotFound(f"project {project_id} does not exist or is not yours", code="no_project")
    return project


def project_get_for_staff(*, user: AbstractBaseUser, project_id: int) -> Project:
    """A project the user may manage (researcher member or admin), else 404/403."""
    project = project_get_for_member(user=user, project_id=project_id)
    if user_role(user) == Role.RATER:
        raise PermissionDenied("only researchers and admins may do this", code="staff_only")
    return project


def require_admin(user: AbstractBaseUser) -> None:
    if user_role(user) != Role.ADMIN:
        raise PermissionDenied("only admins may do this", code="admin_only")
