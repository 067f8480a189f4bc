"""`python manage.py import_audio PATH... --project NAME`."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand
from tqdm import tqdm

from annotate.services.ingest import ImportReport, files_import, project_get_or_create


def print_report(command: BaseCommand, report: ImportReport) -> None:
    for name, reason in report.skipped:
        command.stdout.write(f"skipped {name}: {reason}")
    for name, reason in report.errors:
        command.stderr.write(f"not imported {name}: {reason}")
    command.stdout.write(
        f"{len(report.created)} clips imported, {len(report.skipped)} skipped, "
        f"{len(report.errors)} not imported, {report.ratings} ratings imported"
    )
    if report.errors:
        sys.exit(2)


class Command(BaseCommand):
    help = (
        "Import audio files or folders (searched recursively) into a project; a new project "
        "gets the targets arousal and valence on [-1, 1]. Exits 2 when some files could not "
        "be imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--project", required=True, help="project name")

    def handle(self, *args, **options):
        project = project_get_or_create(name=options["project"])
        with tqdm(unit="file", desc="importing", disable=options["verbosity"] == 0) as bar:
            report = files_import(project=project, paths=options["paths"], progress=bar.update)
        print_report(self, report)
