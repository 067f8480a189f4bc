"""`python manage.py restore_project DIR`: load a folder written by `backup_project` into
this database and storage. Refused, with nothing written, when the project's name or any
of its row ids is taken here (annotate.services.backup; docs/operations.md)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.errors import ConcordError
from annotate.services.backup import project_restore


class Command(BaseCommand):
    help = "Restore one project from a backup_project folder."

    def add_arguments(self, parser):
        parser.add_argument("folder", help="a folder written by backup_project")

    def handle(self, *args, **options):
        try:
            report = project_restore(in_dir=Path(options["folder"]))
        except (ConcordError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(report.as_dict(), indent=1))
        self.stderr.write(
            f"restored {report.project!r}: {sum(report.rows.values())} rows, {report.files} files"
        )
