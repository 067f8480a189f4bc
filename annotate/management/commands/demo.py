"""`python manage.py demo`: a synthetic corpus, users, a worker and the web server."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotate.services.ingest import corpus_import
from annotate.services.users import user_create
from annotate.synthetic import corpus_write
from config.worker import worker_command

DEMO_PROJECT = "demo"
DEMO_USERS = (
    ("rater", "rater-pass", "rater"),
    ("researcher", "researcher-pass", "researcher"),
    ("admin", "admin-pass", "admin"),
)


class Command(BaseCommand):
    help = (
        "Set up a demo project from a synthetic corpus (once), create demo users, then start a "
        "Celery worker and the web server and wait (Ctrl-C stops both)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--clips", type=int, default=60)
        parser.add_argument("--no-serve", action="store_true", help="set up only")

    def handle(self, *args, **options):
        call_command("migrate", verbosity=0)
        corpus = settings.VAR_DIR / "demo-corpus"
        if not (corpus / "clips.csv").is_file():
            self.stdout.write(f"writing a synthetic corpus of {options['clips']} clips to {corpus}")
            corpus_write(corpus, n_clips=options["clips"])
        report = corpus_import(corpus_dir=corpus, project_name=DEMO_PROJECT)
        self.stdout.write(f"project {DEMO_PROJECT!r}: {len(report.created)} new clips")
        for username, password, role in DEMO_USERS:
            user_create(
                username=username, password=password, role=role, project_names=(DEMO_PROJECT,)
            )
        if options["no_serve"]:
            return
        call_command("collectstatic", interactive=False, verbosity=0)
        self.serve(options["port"])

    def serve(self, port: int) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        worker = subprocess.Popen(
            worker_command(concurrency=2, loglevel="WARNING", options=("--beat",)),
            env=env,
        )
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            env=env,
        )
        url = f"http://127.0.0.1:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nConcord is running at {url}"))
        for username, password, role in DEMO_USERS:
            self.stdout.write(f"  {role:<10} login: {username} / {password}")
        self.stdout.write("Ctrl-C stops the web server and the worker.\n")
        try:
            while worker.poll() is None and web.poll() is None:
                time.sleep(1)
            self.stderr.write("a child process stopped; shutting down")
        except KeyboardInterrupt:
            pass
        finally:
            for child in (web, worker):
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in (web, worker):
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
