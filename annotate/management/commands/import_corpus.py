"""`python manage.py import_corpus DIR --project NAME`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.management.commands.import_audio import print_report
from annotate.services.ingest import corpus_import


class Command(BaseCommand):
    help = (
        "Import a corpus folder (clips.csv + audio, and ratings.csv if present) into a project, "
        "creating the project if needed. Exits 2 when some files could not be imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("corpus_dir", type=Path)
        parser.add_argument("--project", required=True, help="project name")

    def handle(self, *args, **options):
        bar = tqdm(unit="clip", desc="importing", disable=options["verbosity"] == 0)
        try:
            report = corpus_import(
                corpus_dir=options["corpus_dir"],
                project_name=options["project"],
                progress=bar.update,
                on_start=lambda total: bar.reset(total=total),
            )
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        print_report(self, report)
