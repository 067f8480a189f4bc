"""Creating users with a role and project memberships, one by one or from a CSV."""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction

from annotate.errors import ValidationError
from annotate.models import Project, RaterProfile, Role


@dataclass
class UserImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


@transaction.atomic
def user_create(
    *, username: str, password: str, role: str, project_names: tuple[str, ...] = ()
) -> tuple[AbstractUser, bool]:
    """Create or update a user with a role; admins also get the Django admin.

    Returns (user, created). Every named project must exist.
    """
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, not {role!r}")
    if not username or not password:
        raise ValidationError("username and password are required")
    projects = list(Project.objects.filter(name__in=project_names))
    missing = sorted(set(project_names) - {p.name for p in projects})
    if missing:
        raise ValidationError(f"no project named {', '.join(map(repr, missing))}")
    user, created = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.save()
    RaterProfile.objects.update_or_create(user=user, defaults={"role": role})
    for project in projects:
        project.members.add(user)
    return user, created


def users_import_csv(*, path: Path) -> UserImportReport:
    """Rows `username,password,role,projects` (projects separated by ';'); each row on its own."""
    report = UserImportReport()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"username", "password", "role"} - set(reader.fieldnames or ())
        if missing:
            raise ValidationError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            projects = tuple(p.strip() for p in (row.get("projects") or "").split(";") if p.strip())
            try:
                user, created = user_create(
                    username=(row["username"] or "").strip(),
                    password=row["password"] or "",
                    role=(row["role"] or "").strip(),
                    project_names=projects,
                )
            except ValidationError as exc:
                report.errors.append((line, exc.message))
                continue
            (report.created if created else report.updated).append(user.username)
    return report
