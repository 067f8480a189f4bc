"""`python manage.py backup_project PROJECT --out DIR`: one project's rows, accounts, audio
and model bundles as a folder that `restore_project DIR` loads into another database
(annotate.services.backup; docs/operations.md)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.errors import ConcordError
from annotate.models import Project
from annotate.services.backup import project_backup


class Command(BaseCommand):
    help = "Back up one project (rows, accounts, audio, models) into an empty folder."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project name")
        parser.add_argument("--out", required=True, help="folder to write (created; must be empty)")

    def handle(self, *args, **options):
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"no project named {options['project']!r}")
        try:
            report = project_backup(project=project, out_dir=Path(options["out"]))
        except (ConcordError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(report.as_dict(), indent=1))
        self.stderr.write(
            f"backed up {project.name!r}: {sum(report.rows.values())} rows, "
            f"{report.files} files ({report.bytes} bytes) in {options['out']}"
        )
