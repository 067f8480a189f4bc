"""`python manage.py demo`: a synthetic corpus, a campaign under way, a worker and the web
server.

The setup (`--no-serve` stops after it) writes a synthetic corpus whose true arousal and
valence are known, imports it as project `demo`, creates the demo users, then runs the
loop once in this process (`demo_loop`): simulated raters (annotate.synthetic.DEMO_CROWD)
take leases and rate through the platform's own services, and the tasks those ratings
trigger run eagerly here (queue refresh, automatic retraining every
`retrain_after_labels` ratings, scoring by the promoted model). A newcomer so opens the
site on a campaign with human and machine labels, deferred and queued clips, a learning
curve of several runs and its stop signal. It runs once: a project that already has
ratings is left as it is.
"""

import errno
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotate.models import (
    Clip,
    ClipState,
    Label,
    LabelSource,
    Project,
    Rating,
    ReferenceLabel,
)
from annotate.services.assignments import assignment_next
from annotate.services.features import project_features_ensure
from annotate.services.ingest import corpus_import
from annotate.services.ratings import rating_submit
from annotate.services.users import user_create
from annotate.synthetic import (
    DEMO_CROWD,
    DEMO_SPEAKERS,
    SimulatedRater,
    corpus_write,
    simulated_rating,
)
from config.worker import worker_command

DEMO_PROJECT = "demo"
DEMO_USERS = (
    ("rater", "rater-pass", "rater"),
    ("researcher", "researcher-pass", "researcher"),
    ("admin", "admin-pass", "admin"),
)
HOST = "127.0.0.1"
# How long gunicorn may take to answer before the demo gives up on it.
WEB_START_SECONDS = 30


class PortTaken(CommandError):
    pass


def port_check(port: int, host: str = HOST) -> None:
    """Raise PortTaken, naming the port and how to choose another, when `host:port` cannot
    be bound (another server holds it)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As gunicorn binds: a port left in TIME_WAIT by a server that just stopped is free.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as exc:
        why = "it is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise PortTaken(
            f"cannot serve the demo on {host}:{port}: {why}. Stop whatever holds it, or "
            f"choose another port: ./run demo --port {port + 10}",
            returncode=3,
        ) from None
    finally:
        probe.close()


@dataclass(frozen=True)
class LoopReport:
    ratings: int
    leases: int
    runs: int
    states: dict[str, int]


def demo_loop(
    project: Project,
    *,
    ratings: int,
    max_ratings: int | None = None,
    crowd: tuple[SimulatedRater, ...] = DEMO_CROWD,
    open_leases: int = 2,
    keep_open: int = 40,
    say: Callable[[str], None] = print,
) -> LoopReport:
    """Simulated raters rate about `ratings` clips of `project` through the platform's own
    services (assignment_next, rating_submit), with Celery eager so that the tasks those
    ratings start (queue refresh, automatic retraining, scoring) run here, in order.
    Then `open_leases` raters take a clip and have not answered yet. Past `ratings` they
    go on, up to `max_ratings`, while no model labels clips itself, as a campaign's crowd
    rates until its model earns that. They stop early once no more than `keep_open`
    clips are left open to humans.

    Each rater answers the clip's reference label (the synthetic corpus's truth) plus
    their bias and noise (annotate.synthetic.simulated_rating)."""
    from config.celery import app

    users = [
        cast(
            User,
            user_create(
                username=rater.name,
                password=secrets.token_urlsafe(18),
                role="rater",
                project_names=(project.name,),
            )[0],
        )
        for rater in crowd
    ]
    truth: dict[int, dict[str, float]] = {}
    for clip_id, target, value in ReferenceLabel.objects.filter(clip__project=project).values_list(
        "clip_id", "target", "value"
    ):
        truth.setdefault(clip_id, {})[target] = value
    scale = (-1.0, 1.0)
    first = project.targets.first()
    if first is not None:
        scale = (first.scale_min, first.scale_max)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    # Tasks run inline here, one rating at a time: no pass is deferred (it would wait).
    interval = settings.CONCORD_AFTER_RATINGS_SECONDS
    settings.CONCORD_AFTER_RATINGS_SECONDS = 0
    trace = logging.getLogger("celery.app.trace")  # one line per eager task otherwise
    trace_level = trace.level
    trace.setLevel(logging.WARNING)
    done = 0
    try:
        say("extracting features")
        project_features_ensure(project=project)
        say(f"{len(crowd)} simulated raters rate about {ratings} clips; the learner follows")
        open_to_humans = Clip.objects.filter(
            project=project, state__in=(ClipState.AWAITING_HUMANS, ClipState.DEFERRED)
        )
        # Stop early rather than leave the people who open the demo nothing to rate (a
        # model that labels much of the pool itself would otherwise let the crowd empty it).
        machine_labels = Label.objects.filter(
            clip__project=project, source=LabelSource.MACHINE, revoked_at__isnull=True
        )
        budget = max(ratings, max_ratings or 0)
        while (
            done < budget
            and (done < ratings or not machine_labels.exists())
            and open_to_humans.count() > keep_open
        ):
            rated_now = 0
            for index, (user, rater) in enumerate(zip(users, crowd, strict=True)):
                assignment = assignment_next(rater=user, project=project)
                if assignment is None:
                    continue
                values = simulated_rating(
                    rater,
                    truth.get(assignment.clip_id, {}),
                    clip_key=str(assignment.clip_id),
                    scale=scale,
                )
                # A careless rater is also a fast one.
                seconds = 1.0 if rater.noise > 0.3 else 4.0 + index
                rating_submit(
                    rater=user,
                    assignment=assignment,
                    values=values,
                    client_token=f"demo-assignment-{assignment.pk}",
                    time_spent_ms=int(seconds * 1000),
                )
                rated_now += 1
                done += 1
                if done % 50 == 0:
                    say(f"  {done} ratings")
            if rated_now == 0:
                break
        leases = 0
        for user in users[:open_leases]:
            leases += assignment_next(rater=user, project=project) is not None
    finally:
        app.conf.task_always_eager = eager
        settings.CONCORD_AFTER_RATINGS_SECONDS = interval
        trace.setLevel(trace_level)
    states: dict[str, int] = {}
    for state in Clip.objects.filter(project=project).values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    return LoopReport(
        ratings=done,
        leases=leases,
        runs=project.training_runs.filter(state="succeeded").count(),
        states=states,
    )


class Command(BaseCommand):
    help = (
        "Set up a demo project from a synthetic corpus with simulated raters and a trained "
        "model (once), create demo users, then start a Celery worker and the web server "
        "and wait (Ctrl-C stops both)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="web server port (8000)")
        parser.add_argument("--clips", type=int, default=320, help="clips in the corpus (320)")
        parser.add_argument(
            "--ratings",
            type=int,
            default=None,
            help="ratings the simulated raters give during setup (default: about 3 per clip "
            "for 60%% of the clips, fewer if the model labels much of the rest, up to twice "
            "that while no model labels clips itself; 0: none)",
        )
        parser.add_argument(
            "--no-serve", "--setup-only", action="store_true", help="set up only, serve nothing"
        )

    def handle(self, *args, **options):
        if not options["no_serve"]:
            port_check(options["port"])  # before anything else, so nothing is left half-done
        call_command("migrate", verbosity=0)
        corpus = settings.VAR_DIR / "demo-corpus"
        if not (corpus / "clips.csv").is_file():
            self.stdout.write(f"writing a synthetic corpus of {options['clips']} clips to {corpus}")
            corpus_write(corpus, n_clips=options["clips"], speakers=DEMO_SPEAKERS)
        report = corpus_import(corpus_dir=corpus, project_name=DEMO_PROJECT)
        self.stdout.write(f"project {DEMO_PROJECT!r}: {len(report.created)} new clips")
        for username, password, role in DEMO_USERS:
            user_create(
                username=username, password=password, role=role, project_names=(DEMO_PROJECT,)
            )
        project = Project.objects.get(name=DEMO_PROJECT)
        ratings = options["ratings"]
        if ratings is None:
            ratings = round(0.6 * project.clips.count() * 3)
        if ratings > 0 and not Rating.objects.filter(clip__project=project).exists():
            # A demo-sized campaign: four retrainings along the way and rounds of 40
            # clips for people, so several model versions and every clip state show.
            project.retrain_after_labels = max(20, ratings // 4)
            project.human_budget_per_round = 40
            project.save(update_fields=["retrain_after_labels", "human_budget_per_round"])
            loop = demo_loop(
                project, ratings=ratings, max_ratings=2 * ratings, say=self.stdout.write
            )
            shown = ", ".join(f"{n} {state}" for state, n in sorted(loop.states.items()))
            self.stdout.write(
                f"simulated raters gave {loop.ratings} ratings; {loop.runs} training runs "
                f"succeeded; clips: {shown}; {loop.leases} leases open"
            )
        if options["no_serve"]:
            return
        call_command("collectstatic", interactive=False, verbosity=0)
        self.serve(options["port"])

    def serve(self, port: int) -> None:
        port_check(port)  # again: the setup took a while
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"{HOST}:{port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            env=env,
        )
        worker: subprocess.Popen[bytes] | None = None
        try:
            self._wait_until_serving(web, port)
            worker = subprocess.Popen(
                worker_command(concurrency=2, loglevel="WARNING", options=("--beat",)),
                env=env,
            )
            url = f"http://{HOST}:{port}/"
            self.stdout.write(self.style.SUCCESS(f"\nConcord is running at {url}"))
            for username, password, role in DEMO_USERS:
                self.stdout.write(f"  {role:<10} login: {username} / {password}")
            self.stdout.write(
                f"  the project 'demo': {url}projects/"
                f"{Project.objects.get(name=DEMO_PROJECT).pk}/ (as researcher or admin)"
            )
            self.stdout.write("Ctrl-C stops the web server and the worker.\n")
            while worker.poll() is None and web.poll() is None:
                time.sleep(1)
            stopped = "web server" if web.poll() is not None else "worker"
            raise CommandError(f"the {stopped} stopped; shutting down", returncode=1)
        except KeyboardInterrupt:
            pass
        finally:
            children = [child for child in (web, worker) if child is not None]
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _wait_until_serving(self, web: subprocess.Popen[bytes], port: int) -> None:
        """Return once the web server answers on `port`; CommandError (non-zero exit) when
        it exits first or does not answer in time."""
        deadline = time.monotonic() + WEB_START_SECONDS
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise CommandError(
                    f"the web server exited with status {web.returncode} before serving on "
                    f"{HOST}:{port} (see its messages above)",
                    returncode=1,
                )
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise CommandError(
            f"the web server did not answer on {HOST}:{port} within {WEB_START_SECONDS} s",
            returncode=1,
        )
