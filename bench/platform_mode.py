"""`--platform`: the label-efficiency loop driven through the real platform.

One speaker split of a corpus goes the whole way a real project goes: the corpus (test
speakers left out) is imported into a project; a real Celery worker extracts features,
retrains and scores; simulated raters take clips from the assignment API (`next`, then
`rating`, in process through DRF) and answer as the benchmark's crowd; an admin retrains
through the API after every round; the worker's promoted model is evaluated on the test
speakers. The same split then runs in process (`run_once`, cooperative) so the report
can set the platform's curve and wall time beside the benchmark's.

Without DATABASE_URL/REDIS_URL it runs on a fresh SQLite file and the filesystem broker
under `<out>/platform/`; with them, on PostgreSQL and Redis (a new project each time).
"""

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np

from bench.label_efficiency.protocol import (
    development_ratings,
    make_split,
    prepare_corpus,
    run_once,
    speaker_folds,
)
from config.worker import worker_command

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _setup_django(workdir: Path) -> None:
    # Its own var dir: a fresh SQLite file and broker folder unless DATABASE_URL and
    # REDIS_URL point elsewhere; the worker inherits the same environment.
    os.environ["CONCORD_VAR_DIR"] = str(workdir)
    os.environ.setdefault("MEDIA_ROOT", str(workdir / "media"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _start_worker(log: Path) -> subprocess.Popen:
    command = worker_command(
        concurrency=1, loglevel="WARNING", options=("-n", f"bench-{uuid.uuid4().hex[:8]}@%h")
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def _corpus_without(corpus_dir: Path, clip_ids: set[str], into: Path) -> Path:
    """A view of the corpus without the given clips (and without ratings.csv: the crowd
    answers through the API instead)."""
    import csv

    into.mkdir(parents=True)
    for entry in corpus_dir.iterdir():
        if entry.name not in ("clips.csv", "ratings.csv"):
            (into / entry.name).symlink_to(entry.resolve())
    with (corpus_dir / "clips.csv").open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        with (into / "clips.csv").open("w", newline="", encoding="utf-8") as target:
            writer = csv.DictWriter(target, fieldnames=reader.fieldnames)
            writer.writeheader()
            writer.writerows(row for row in reader if row["clip_id"] not in clip_ids)
    return into


def api_host() -> str:
    """A host name the settings accept, for the in-process API client."""
    from django.conf import settings

    named = [h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")]
    return named[0] if named else "localhost"


class SimulatedRaters:
    """The crowd behind the assignment API: rater k answers as the crowd's rater k."""

    def __init__(self, project, run, n_raters: int) -> None:
        from rest_framework.test import APIClient

        from annotate.services.users import user_create

        self.project, self.run = project, run
        host = api_host()
        self.index_of = {clip_id: i for i, clip_id in enumerate(run.corpus.clip_ids)}
        self.clients = []
        for k in range(n_raters):
            user, _ = user_create(
                username=f"{project.name}-rater{k}",
                password=uuid.uuid4().hex,
                role="rater",
                project_names=(project.name,),
            )
            client = APIClient(SERVER_NAME=host)
            client.force_authenticate(user)
            self.clients.append(client)
        # Read once: the project's targets and clips do not change while raters rate.
        self.targets = list(project.targets.values_list("name", flat=True))
        self.external = dict(project.clips.values_list("id", "external_id"))
        self.cost = 0
        self.given: dict[int, int] = {}
        self.latency = {"next": [], "rating": []}
        self._turn = 0

    def spend(self, n: int) -> int:
        """Up to n ratings through the API, raters taking turns; returns how many."""
        active = list(range(len(self.clients)))  # a rater told "nothing left" may retry
        spent = 0
        while spent < n and active:
            k = active[self._turn % len(active)]
            self._turn += 1
            client = self.clients[k]
            started = time.perf_counter()
            lease = client.post(f"/api/v1/projects/{self.project.pk}/next/")
            self.latency["next"].append(time.perf_counter() - started)
            if lease.status_code == 204:
                active.remove(k)  # nothing left for this rater
                continue
            if lease.status_code != 200:
                raise RuntimeError(f"next refused: {lease.status_code} {lease.content[:300]!r}")
            body = lease.json()
            clip = self.index_of[self.external[body["clip"]["id"]]]
            # User k answers as the crowd's rater k; a replayed clip gives its ratings in
            # turn.
            given = self.given.get(clip, 0)
            self.given[clip] = given + 1
            crowd = self.run.crowd
            values = (
                crowd.nth_rating(clip, given % crowd.n_available(clip))
                if crowd.replayed
                else crowd.rating(clip, k)
            )
            started = time.perf_counter()
            answer = client.post(
                f"/api/v1/assignments/{body['assignment']['id']}/rating/",
                {
                    "values": {t: values[t] for t in self.targets},
                    "client_token": f"bench-{k}-{body['assignment']['id']}",
                },
                format="json",
            )
            self.latency["rating"].append(time.perf_counter() - started)
            if answer.status_code != 201:
                raise RuntimeError(f"rating refused: {answer.status_code} {answer.content!r}")
            spent += 1
        self.cost += spent
        return spent


def run_platform(corpus_dir: Path, args, out: Path) -> dict:
    """One split through the platform, then in process; returns both curves and timings."""
    workdir = (out / "platform").resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    _setup_django(workdir)
    from django.conf import settings
    from rest_framework.test import APIClient

    from annotate.models import ClipFeatures, Label, ModelVersion, Project
    from annotate.services.ingest import corpus_import
    from annotate.services.users import user_create
    from learner.features import get_extractor
    from learner.metrics import ccc
    from learner.training import TrainedBundle

    run = prepare_corpus(corpus_dir, args)
    speakers = run.corpus.speakers
    split = make_split(speakers, speaker_folds(speakers, args.folds, 0), 0, 0, 0.05)
    test_ids = {run.corpus.clip_ids[i] for i in split.test}
    full_cost = args.raters * split.pool.size
    budget = max(args.raters, round(args.round_share * full_cost))
    max_cost = round(args.max_share * full_cost)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    worker = _start_worker(workdir / "worker.log")
    try:
        name = f"bench-{run.corpus.root.name}-{uuid.uuid4().hex[:6]}"
        report = corpus_import(
            corpus_dir=_corpus_without(corpus_dir, test_ids, workdir / "corpus"),
            project_name=name,
        )
        if report.errors:
            raise RuntimeError(f"import failed for {len(report.errors)} clips: {report.errors[:3]}")
        project = Project.objects.get(name=name)
        # Fixed raters, as the in-process cooperative run it is compared with.
        project.min_raters = project.max_raters = args.raters
        project.human_budget_per_round = max(1, budget // args.raters)
        project.retrain_after_labels = 0  # the benchmark retrains after every round
        project.feature_extractor, project.regressor = args.extractor, args.regressor
        project.feature_normalisation = args.normalise  # as the in-process run's features
        project.save()
        n_clips = project.clips.count()
        wait_for(
            lambda: ClipFeatures.objects.filter(clip__project=project).count() >= n_clips,
            timeout=1800,
            what="the worker to extract features",
        )
        timings["import_and_features_s"] = time.perf_counter() - started
        admin, _ = user_create(username=f"{name}-admin", password=uuid.uuid4().hex, role="admin")
        admin_client = APIClient(SERVER_NAME=api_host())
        admin_client.force_authenticate(admin)
        raters = SimulatedRaters(project, run, n_raters=run.crowd.n_raters)
        gold_of = {run.corpus.clip_ids[i]: run.gold[i] for i in range(len(run.gold))}
        test_X = run.X[split.test]
        test_gold = run.gold[split.test]
        run_extractor_key = get_extractor(args.extractor).cache_key

        raters.spend(args.raters * len(split.seed_set))
        rounds, train_s, score_s = [], [], []
        while True:
            t0 = time.perf_counter()
            response = admin_client.post(f"/api/v1/projects/{project.pk}/retrain/")
            if response.status_code == 400 and response.json().get("code") == "too_few_labels":
                # Refused up front: the development speakers need more labels. Rate on.
                if raters.cost >= max_cost or not raters.spend(budget):
                    break
                continue
            if response.status_code != 202:
                raise RuntimeError(f"retrain refused: {response.status_code} {response.content!r}")
            run_id = response.json()["run"]["id"]

            def finished(run_id=run_id):
                body = admin_client.get(f"/api/v1/training-runs/{run_id}/").json()
                return body if body["state"] in ("succeeded", "failed") else None

            result = wait_for(finished, timeout=1800, what=f"training run {run_id}")
            train_s.append(time.perf_counter() - t0)
            if result["state"] != "succeeded":
                if "too few labelled clips" not in (result["error"] or ""):
                    raise RuntimeError(f"training run {run_id} failed: {result['error']}")
                # The platform holds out whole speakers for development: rate on, retry.
                if raters.cost >= max_cost or not raters.spend(budget):
                    break
                continue
            t0 = time.perf_counter()
            if result["metrics"].get("promoted"):
                wait_for(
                    lambda run_id=run_id: ModelVersion.objects.filter(
                        run_id=run_id, scored_at__isnull=False
                    ).exists(),
                    timeout=600,
                    what="the new model to score the pool",
                )
            score_s.append(time.perf_counter() - t0)
            active = ModelVersion.objects.get(project=project, is_active=True)
            bundle = TrainedBundle.load(Path(settings.MEDIA_ROOT) / active.artifact)
            used = (bundle.extractor_key, bundle.feature_normalisation)
            if used != (run_extractor_key, args.normalise):
                raise RuntimeError(
                    f"{active.name} uses features {used}, not {(run_extractor_key, args.normalise)}"
                )
            values = bundle.predict(test_X).values
            # The project's targets come in its own order: pick the benchmark's by name.
            pred = values[:, [bundle.targets.index(t) for t in run.targets]]
            machine = list(
                Label.objects.filter(
                    clip__project=project, source="machine", revoked_at__isnull=True
                ).values_list("clip__external_id", "target", "value")
            )
            errors = [
                abs(value - gold_of[external][run.targets.index(target)])
                for external, target, value in machine
                if target in run.targets
            ]
            rounds.append(
                {
                    "cost": raters.cost,
                    "ccc": [ccc(test_gold[:, t], pred[:, t]) for t in range(len(run.targets))],
                    "machine_labels": len({external for external, _, _ in machine}),
                    "machine_mae": float(np.mean(errors)) if errors else None,
                    "model_version": active.name,
                    "promoted": bool(result["metrics"].get("promoted")),
                }
            )
            if raters.cost >= max_cost or not raters.spend(budget):
                break
        timings["platform_total_s"] = time.perf_counter() - started
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()

    started = time.perf_counter()
    dev = development_ratings(
        run.crowd, run.targets, split.dev, args.raters, weighted=args.labels == "weighted"
    )
    in_process = run_once(
        run.X,
        run.gold,
        run.crowd,
        run.targets,
        split,
        "cooperative",
        groups=speakers,
        dev=dev,
        raters=args.raters,
        budget=budget,
        max_cost=max_cost,
        regressor=args.regressor,
        seed=0,
    )
    timings["in_process_s"] = time.perf_counter() - started
    latency = {
        name: {
            "median_ms": 1000 * float(np.median(values)),
            "p95_ms": 1000 * float(np.percentile(values, 95)),
        }
        for name, values in raters.latency.items()
        if values
    }
    return {
        "corpus": run.corpus.root.name,
        "targets": run.targets,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "full_supervision_ratings": full_cost,
        "round_budget": budget,
        "platform_rounds": rounds,
        "in_process_rounds": in_process,
        "timings": {
            **timings,
            "train_median_s": float(np.median(train_s)),
            "score_median_s": float(np.median(score_s)),
            "rounds": len(rounds),
        },
        "api_latency": latency,
    }


def platform_markdown(result: dict) -> str:
    targets = result["targets"]
    lines = [
        f"### {result['corpus']}: through the platform ({result['database']}, "
        f"{result['broker']} broker, one speaker split)",
        "",
        "| ratings | "
        + " | ".join(f"test CCC {t} (platform / in process)" for t in targets)
        + " | machine labels | machine-label MAE |",
        "|---|" + "---|" * len(targets) + "---|---|",
    ]
    local = result["in_process_rounds"]
    for r in result["platform_rounds"]:
        # The in-process curve at the same spend: its last round that cost no more.
        mine = [x for x in local if x["cost"] <= r["cost"]][-1:] or local[:1]
        cells = [f"{r['ccc'][t]:.3f} / {mine[0]['ccc'][t]:.3f}" for t in range(len(targets))]
        mae = f"{r['machine_mae']:.3f}" if r["machine_mae"] is not None else "-"
        lines.append(
            f"| {r['cost']} | " + " | ".join(cells) + f" | {r['machine_labels']} | {mae} |"
        )
    t = result["timings"]
    api = result["api_latency"]
    lines += [
        "",
        f"Wall time: platform {t['platform_total_s']:.0f} s for {t['rounds']} rounds "
        f"(import and features {t['import_and_features_s']:.0f} s; per round: retrain "
        f"{t['train_median_s']:.1f} s, scoring {t['score_median_s']:.1f} s, median) against "
        f"{t['in_process_s']:.1f} s in process; API (in process, median / p95): next "
        f"{api['next']['median_ms']:.0f} / {api['next']['p95_ms']:.0f} ms, rating "
        f"{api['rating']['median_ms']:.0f} / {api['rating']['p95_ms']:.0f} ms.",
        "",
    ]
    return "\n".join(lines)
