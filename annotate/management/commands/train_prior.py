"""`python manage.py train_prior CORPUS_DIR... --name NAME` (or `--project PROJECT`)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotate.errors import ConcordError
from annotate.learning.features import EXTRACTOR_NAMES
from annotate.models import Project
from annotate.services.priors import prior_train_from_corpora, prior_train_from_project


class Command(BaseCommand):
    help = (
        "Train a prior (a model new projects start from) on corpus folders in the shared "
        "format, or on a project's human labels, and store it as the next version of NAME."
    )

    def add_arguments(self, parser):
        parser.add_argument("corpus_dirs", nargs="*", type=Path, metavar="CORPUS_DIR")
        parser.add_argument("--name", required=True, help="the prior's name (a slug)")
        parser.add_argument("--project", help="learn from this project's human labels instead")
        parser.add_argument(
            "--targets",
            help="comma-separated gold columns to learn (corpora only; default: every gold "
            "column all the corpora fill in). A project can name the prior only if it rates "
            "the same targets",
        )
        parser.add_argument(
            "--extractor",
            default="compare16k",
            choices=EXTRACTOR_NAMES,
            help="feature extractor (corpora only; a project uses its own)",
        )
        parser.add_argument(
            "--normalisation",
            default="auto",
            choices=["auto", "corpus", "speaker"],
            help="features standardised per corpus or per speaker; auto: whichever scores "
            "better on the development speakers",
        )

    def handle(self, *args, **options):
        dirs, project_name = options["corpus_dirs"], options["project"]
        if bool(dirs) == bool(project_name):
            raise CommandError("give corpus folders or --project, not both and not neither")
        try:
            if project_name:
                project = Project.objects.filter(name=project_name).first()
                if project is None:
                    raise CommandError(f"no project named {project_name!r}")
                prior = prior_train_from_project(
                    name=options["name"], project=project, normalisation=options["normalisation"]
                )
            else:
                prior = self._from_corpora(dirs, options)
        except ConcordError as exc:
            raise CommandError(exc.message) from None
        ccc = prior.metrics.get("dev_ccc", {})
        shown = ", ".join(f"{t} {v:.3f}" for t, v in ccc.items() if v is not None)
        self.stdout.write(
            f"prior {prior.label}: {prior.n_clips} clips, {prior.feature_normalisation} "
            f"normalisation, development CCC {shown or 'n/a'}"
        )

    def _from_corpora(self, dirs, options):
        for path in dirs:
            if not (path / "clips.csv").is_file():
                raise CommandError(f"{path}: no clips.csv (not a corpus folder)")
        total = 0
        for path in dirs:
            with (path / "clips.csv").open(encoding="utf-8-sig") as handle:
                total += max(0, sum(1 for line in handle if line.strip()) - 1)
        with tqdm(total=total, unit="clip", disable=options["verbosity"] == 0) as bar:
            return prior_train_from_corpora(
                name=options["name"],
                corpus_dirs=dirs,
                targets=[t.strip() for t in (options["targets"] or "").split(",") if t.strip()]
                or None,
                extractor=options["extractor"],
                normalisation=options["normalisation"],
                progress=bar.update,
            )
