"""`manage.py add_user USERNAME --role R --password P [--project NAME ...]`, or `--csv FILE`."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.errors import ValidationError
from annotate.models import Role
from annotate.services.users import user_create, users_import_csv


class Command(BaseCommand):
    help = (
        "Create or update a user with a role (rater, researcher, admin) and project memberships, "
        "or many from a CSV with columns username,password,role,projects (projects split by ';')."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?")
        parser.add_argument("--role", choices=Role.values)
        parser.add_argument("--password")
        parser.add_argument("--project", action="append", default=[], help="repeatable")
        parser.add_argument("--csv", type=Path, help="bulk form")

    def handle(self, *args, **options):
        if options["csv"]:
            try:
                report = users_import_csv(path=options["csv"])
            except (OSError, ValidationError) as exc:
                raise CommandError(str(exc)) from None
            for line, message in report.errors:
                self.stderr.write(f"line {line}: {message}")
            self.stdout.write(
                f"{len(report.created)} users created, {len(report.updated)} updated, "
                f"{len(report.errors)} rows refused"
            )
            if report.errors:
                sys.exit(2)
            return
        if not (options["username"] and options["role"] and options["password"]):
            raise CommandError("give USERNAME --role ROLE --password P, or --csv FILE")
        try:
            user, created = user_create(
                username=options["username"],
                password=options["password"],
                role=options["role"],
                project_names=tuple(options["project"]),
            )
        except ValidationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"{'created' if created else 'updated'} {options['role']} {user.username}"
        )
