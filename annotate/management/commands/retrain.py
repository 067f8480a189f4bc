"""`python manage.py retrain PROJECT [--here]`: queue (or run here) a retraining."""

from django.core.management.base import BaseCommand, CommandError

from annotate.errors import ConcordError
from annotate.models import Project, RunTrigger
from annotate.services.training import training_run_execute, training_run_start


class Command(BaseCommand):
    help = "Retrain a project's models: queued for a worker, or in this process with --here."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project name")
        parser.add_argument("--here", action="store_true", help="train in this process and wait")

    def handle(self, *args, **options):
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"no project named {options['project']!r}")
        try:
            run = training_run_start(project=project, trigger=RunTrigger.COMMAND)
        except ConcordError as exc:
            raise CommandError(exc.message) from None
        if not options["here"]:
            self.stdout.write(f"queued training run {run.pk} for project {project.name!r}")
            return
        run = training_run_execute(run_id=run.pk)
        if run.state != "succeeded":
            raise CommandError(f"training run {run.pk} {run.state}: {run.error}")
        self.stdout.write(f"training run {run.pk} succeeded: {run.metrics}")
