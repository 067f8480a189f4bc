"""`python manage.py export_labels PROJECT --out FILE`: a project's labels (or ratings)
as CSV or JSON, for scripts; the same rows as GET /api/v1/projects/{id}/export/..."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from annotate.services.export import ExportFormat, export_write, labels_export, ratings_export


class Command(BaseCommand):
    help = "Export a project's labels (one row per clip and target) or ratings as CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project name")
        parser.add_argument("--out", default="-", help="file to write; - (default) for stdout")
        parser.add_argument(
            "--format",
            choices=[f.value for f in ExportFormat],
            help="default: from --out's suffix, else csv",
        )
        parser.add_argument("--ratings", action="store_true", help="one row per rating instead")
        parser.add_argument(
            "--pseudonymise", action="store_true", help="with --ratings: rater pseudonyms, not ids"
        )
        parser.add_argument("--include-revoked", action="store_true", help="also revoked labels")

    def handle(self, *args, **options):
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"no project named {options['project']!r}")
        out = options["out"]
        suffix = Path(out).suffix.lstrip(".").lower()
        fmt = ExportFormat(options["format"] or (suffix if suffix in ("csv", "json") else "csv"))
        if options["ratings"]:
            lines = ratings_export(project=project, fmt=fmt, pseudonymise=options["pseudonymise"])
        else:
            lines = labels_export(
                project=project, fmt=fmt, include_revoked=options["include_revoked"]
            )
        if out == "-":
            export_write(lines, sys.stdout, fmt=fmt)
            return
        path = Path(out)
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("w", newline="", encoding="utf-8") as handle:
                rows = export_write(lines, handle, fmt=fmt)
            partial.replace(path)  # a failed export never leaves a truncated file behind
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"cannot write {path}: {exc}") from None
        kind = "ratings" if options["ratings"] else "labels"
        self.stderr.write(f"wrote {rows} {kind} rows of {project.name!r} to {path}")
