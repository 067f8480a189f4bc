"""`python manage.py import_corpus DIR --project NAME`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.errors import ConcordError
from annotate.management.commands.import_audio import print_report
from annotate.models import Project
from annotate.services.ingest import corpus_import
from annotate.services.priors import prior_get, prior_normalisation_served, project_prior_set


class Command(BaseCommand):
    help = (
        "Import a corpus folder (clips.csv + audio, and ratings.csv if present) into a project, "
        "creating the project if needed. Exits 2 when some files could not be imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("corpus_dir", type=Path)
        parser.add_argument("--project", required=True, help="project name")
        parser.add_argument(
            "--prior",
            help="start the project from this prior (NAME or NAME@VERSION, see train_prior); "
            "a new project then scales its features as the prior needs (none for a prior "
            "normalised per corpus, else auto)",
        )

    def handle(self, *args, **options):
        prior = None
        if options["prior"]:
            try:
                prior = prior_get(options["prior"])
            except ConcordError as exc:
                raise CommandError(exc.message) from None
        bar = tqdm(unit="clip", desc="importing", disable=options["verbosity"] == 0)
        try:
            report = corpus_import(
                corpus_dir=options["corpus_dir"],
                project_name=options["project"],
                progress=bar.update,
                on_start=lambda total: bar.reset(total=total),
                new_project_fields=(
                    {"feature_normalisation": prior_normalisation_served(prior)} if prior else None
                ),
            )
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        if prior is not None:
            project = Project.objects.get(name=options["project"])
            try:
                project_prior_set(project=project, prior=prior)
            except ConcordError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(f"project {project.name!r} starts from prior {prior.label}")
        print_report(self, report)
