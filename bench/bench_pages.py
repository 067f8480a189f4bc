"""Campaign pages at 10k clips and 50k ratings: page and API load times (issue 15).

    python -m bench.bench_pages [--database-url postgres://postgres@127.0.0.1:5432/concord_bench_pages]
                                [--clips 10000] [--ratings 50000] [--raters 50]
                                [--repeats 10] [--warmups 2] [--workers 2] [--port 8765]
                                [--write-docs]

Drops and recreates its own PostgreSQL database (`concord_bench_pages`), migrates it and
builds a synthetic project (`build_project`): clips from 100 speakers sharing one tiny
WAV, two targets, raters of uneven activity, bias and noise (a few noisy, one constant,
one too fast), ratings spread over three days, human labels with their agreement,
machine labels of the active model version, a learning curve of succeeded training runs,
rater noise (the real `rater_reliability_update`), snapshots, audit-log entries and
machine-label audits (the real `machine_audit_request`). Volume goes through
bulk_create; ratings carry no Assignment rows (a handful of live leases do).

It then starts gunicorn (`--workers` sync workers, the filesystem broker as
bench.bench_api), signs in through /login/ as a researcher and as an admin, and times
each page and the API reads the page makes: `--warmups` requests, then `--repeats`
timed ones, to the full body (exports included: bytes and CSV rows are reported). A
route that answers 404 is skipped and listed. SQL queries per request are counted
in-process with Django's test client (CaptureQueriesContext), apart from the timing.
Prints a markdown table; `--write-docs` replaces the section "Campaign pages at 10k clips
and 50k ratings" of docs/benchmarks.md.
"""

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import io
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/concord_bench_pages"
DOCS_SECTION = "## Campaign pages at 10k clips and 50k ratings"
PASSWORD = "bench-pages-pw"
TARGETS = ("arousal", "valence")
SHARED_WAV = "clips/bench-pages.wav"


# --------------------------------------------------------------------------- data


@contextlib.contextmanager
def explicit_timestamps(*fields_: tuple[type, str]) -> Iterator[None]:
    """Let bulk_create keep the given auto_now_add timestamps (history in the past)."""
    saved = []
    for model, name in fields_:
        model_field = model._meta.get_field(name)
        saved.append((model_field, model_field.auto_now_add))
        model_field.auto_now_add = False
    try:
        yield
    finally:
        for model_field, value in saved:
            model_field.auto_now_add = value


def _allocate(total: int, n: int, low: int, high: int, rng: np.random.Generator) -> np.ndarray:
    """`n` uneven counts in [low, high] summing to `total` (clipped into the feasible range)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    total = min(max(total, n * low), n * high)
    counts = np.full(n, low, dtype=np.int64)
    left = total - counts.sum()
    weights = rng.gamma(2.0, 1.0, size=n)
    while left > 0:
        room = high - counts
        p = np.where(room > 0, weights, 0.0)
        extra = rng.multinomial(left, p / p.sum())
        add = np.minimum(extra, room)
        counts += add
        left = total - counts.sum()
    return counts


def _wav_bytes() -> bytes:
    import soundfile as sf

    t = np.arange(8000) / 16000
    buffer = io.BytesIO()
    sf.write(buffer, 0.2 * np.sin(2 * np.pi * 220 * t), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@dataclass
class Built:
    project_id: int
    clip_id: int
    machine_clip_id: int
    researcher: str
    admin: str
    password: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def build_project(
    *,
    clips: int = 10_000,
    ratings: int = 50_000,
    raters: int = 50,
    speakers: int = 100,
    name: str = "bench-pages",
    seed: int = 0,
) -> Built:
    """A synthetic campaign in the current database (Django must be set up)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from annotate.audio import peaks
    from annotate.models import (
        Assignment,
        AuditEntry,
        Clip,
        ClipState,
        Label,
        LabelSource,
        MachineLabelAudit,
        ModelVersion,
        Project,
        ProjectSnapshot,
        RaterProfile,
        Rating,
        Role,
        RunOutcome,
        RunState,
        RunTrigger,
        Target,
        TrainingRun,
    )
    from annotate.services.audit import audit_record, fields_of
    from annotate.services.audits import machine_audit_request
    from annotate.services.raters import rater_reliability_update
    from annotate.services.snapshots import project_snapshot_take
    from annotate.services.users import user_create

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    User = get_user_model()
    now = timezone.now()
    span = dt.timedelta(hours=72)
    t0 = now - span - dt.timedelta(minutes=30)

    media = Path(settings.MEDIA_ROOT)
    (media / SHARED_WAV).parent.mkdir(parents=True, exist_ok=True)
    (media / SHARED_WAV).write_bytes(_wav_bytes())

    min_raters, max_raters = min(5, raters), min(10, raters)
    project = Project.objects.create(
        name=name,
        description="Synthetic campaign for bench.bench_pages",
        min_raters=min_raters,
        max_raters=max_raters,
    )
    for i, target in enumerate(TARGETS):
        Target.objects.create(project=project, name=target, position=i)
    researcher, _ = user_create(
        username=f"{name}-researcher", password=PASSWORD, role=Role.RESEARCHER,
        project_names=(name,),
    )  # fmt: skip
    admin, _ = user_create(
        username=f"{name}-admin", password=PASSWORD, role=Role.ADMIN, project_names=(name,)
    )
    unusable = make_password(None)
    rater_users = User.objects.bulk_create(
        User(username=f"{name}-rater{r:03d}", password=unusable) for r in range(raters)
    )
    if not all(u.pk for u in rater_users):  # backends that return no ids
        rater_users = list(User.objects.filter(username__startswith=f"{name}-rater").order_by("id"))
    RaterProfile.objects.bulk_create(RaterProfile(user=u, role=Role.RATER) for u in rater_users)
    project.members.add(*rater_users)

    # Clip states: 30 % machine-labelled, 4 % deferred, 7 % awaiting humans (a third of
    # them started), the rest rated.
    n_machine = int(0.30 * clips)
    n_deferred = int(0.04 * clips)
    n_awaiting = int(0.07 * clips)
    n_partial = n_awaiting // 3 if min_raters > 1 else 0
    n_rated = clips - n_machine - n_deferred - n_awaiting
    order = rng.permutation(clips)
    states = np.empty(clips, dtype=object)
    states[order[:n_machine]] = ClipState.MACHINE_LABELLED
    states[order[n_machine : n_machine + n_deferred]] = ClipState.DEFERRED
    states[order[n_machine + n_deferred : n_machine + n_deferred + n_awaiting]] = (
        ClipState.AWAITING_HUMANS
    )
    states[order[n_machine + n_deferred + n_awaiting :]] = ClipState.RATED
    partial = order[n_machine + n_deferred : n_machine + n_deferred + n_partial]
    rated = np.sort(order[n_machine + n_deferred + n_awaiting :])
    n_ratings = np.zeros(clips, dtype=np.int64)
    partial_counts = _allocate(
        min(ratings, n_partial * max(1, min_raters // 2)), n_partial, 1, max(1, min_raters - 1), rng
    )
    n_ratings[partial] = partial_counts
    n_ratings[rated] = _allocate(
        ratings - int(partial_counts.sum()), n_rated, min(min_raters, 3), max_raters, rng
    )

    speaker_names = [f"spk{s:03d}" for s in range(speakers)]
    speaker_of = rng.integers(0, speakers, size=clips)
    durations = rng.uniform(1.5, 6.0, size=clips).round(3)
    truth = rng.uniform(-0.8, 0.8, size=(clips, len(TARGETS)))
    shapes = [
        peaks(np.sin(np.arange(16000) * (0.02 + k * 0.003)) * np.hanning(16000) * rng.random())
        for k in range(16)
    ]
    priority = np.where(states == ClipState.AWAITING_HUMANS, rng.random(clips), 0.0)
    ratings_wanted = np.where(
        states == ClipState.RATED, n_ratings, np.where(n_ratings > 0, max_raters, min_raters)
    )
    ratings_wanted = np.where(states == ClipState.MACHINE_LABELLED, 0, ratings_wanted)
    leased = set(
        order[n_machine + n_deferred + n_partial : n_machine + n_deferred + n_awaiting][:10]
    )
    with explicit_timestamps((Clip, "created_at")):
        clip_rows = Clip.objects.bulk_create(
            (
                Clip(
                    project=project,
                    external_id=f"clip-{i:05d}",
                    audio=SHARED_WAV,
                    sha256=hashlib.sha256(f"{name}-{i}".encode()).hexdigest(),
                    duration_s=float(durations[i]),
                    original_sample_rate=48000 if i % 3 else 16000,
                    original_name=f"session{i // 500:02d}/utt{i:05d}.wav",
                    speaker=speaker_names[speaker_of[i]],
                    gender="female" if speaker_of[i] % 2 else "male",
                    language="en",
                    peaks=shapes[i % len(shapes)],
                    state=states[i],
                    priority=float(priority[i]),
                    ratings_wanted=int(ratings_wanted[i]),
                    n_ratings=int(n_ratings[i]),
                    active_leases=1 if i in leased else 0,
                    created_at=t0 - dt.timedelta(hours=2),
                )
                for i in range(clips)
            ),
            batch_size=1000,
        )
    if not all(c.pk for c in clip_rows):
        clip_rows = list(Clip.objects.filter(project=project).order_by("id"))
    clip_ids = np.array([c.pk for c in clip_rows], dtype=np.int64)

    # Raters: uneven activity, bias and noise; three noisy, one constant, one too fast.
    activity = rng.lognormal(0.0, 0.8, size=raters)
    activity /= activity.sum()
    bias = rng.normal(0.0, 0.08, size=(raters, len(TARGETS)))
    noise = rng.uniform(0.1, 0.3, size=raters)
    noise[1:4] = 0.65
    constant_rater, fast_rater = 4 % raters, 5 % raters
    # When each clip was rated: rated clips across the span, started ones in its last hours.
    when = np.zeros(clips)
    when[rated] = np.sort(rng.uniform(0.0, 0.97, size=len(rated)))
    when[partial] = rng.uniform(0.97, 1.0, size=len(partial))
    rating_rows: list[Rating] = []
    label_rows: list[Label] = []
    last_at: dict[int, dt.datetime] = {}
    for i in np.concatenate([rated, partial]):
        k = int(n_ratings[i])
        if k == 0:
            continue
        who = rng.choice(raters, size=k, replace=False, p=activity)
        values = np.clip(
            truth[i] + bias[who] + rng.normal(0, 1, size=(k, len(TARGETS))) * noise[who, None],
            -1.0,
            1.0,
        )
        values[who == constant_rater] = 0.0
        moments = [
            t0 + when[i] * span + dt.timedelta(minutes=float(m))
            for m in np.sort(rng.uniform(0, 90, size=k))
        ]
        for j, r in enumerate(who):
            spent = 250 if r == fast_rater else int(durations[i] * 1000 * rng.uniform(1.2, 3.0))
            rating_rows.append(
                Rating(
                    clip_id=int(clip_ids[i]),
                    rater_id=rater_users[r].pk,
                    values={t: round(float(values[j, t_i]), 4) for t_i, t in enumerate(TARGETS)},
                    time_spent_ms=spent,
                    client_token=f"bench-{i}-{j}",
                    created_at=moments[j],
                )
            )
        last_at[i] = moments[-1]
        mean, spread = values.mean(axis=0), values.std(axis=0)
        for t_i, target in enumerate(TARGETS):
            label_rows.append(
                Label(
                    clip_id=int(clip_ids[i]),
                    target=target,
                    value=round(float(mean[t_i]), 4),
                    source=LabelSource.HUMAN,
                    n_ratings=k,
                    # learner.agreement.clip_agreement: 1 - std / std_max, std_max = 1 on [-1, 1]
                    agreement=round(float(max(0.0, 1.0 - spread[t_i])), 4),
                    created_at=moments[-1],
                )
            )

    # Training runs at points of the rating timeline: a learning curve that flattens.
    fractions = [0.08, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.96]
    runs: list[tuple[TrainingRun, dict[str, Any], bool]] = []
    best = -1.0
    with explicit_timestamps((TrainingRun, "created_at"), (ModelVersion, "created_at")):
        for n, f in enumerate(fractions):
            at = t0 + f * span
            gain = 1 - np.exp(-4 * f)
            ccc = {
                "arousal": round(float(0.42 + 0.33 * gain + rng.normal(0, 0.005)), 4),
                "valence": round(float(0.18 + 0.24 * gain + rng.normal(0, 0.005)), 4),
            }
            promote = n == 0 or ccc["arousal"] + ccc["valence"] > best
            threshold = 0.0 if n < 2 else round(0.06 + 0.01 * n, 3)
            metrics = {
                "dev_ccc": ccc,
                "confidence_rank": {t: round(float(0.3 + 0.03 * n), 3) for t in TARGETS},
                "self_label_threshold": threshold,
                "dev_self_label_share": round(0.05 * n, 3),
                "dev_machine_label_mae": round(0.09 + 0.002 * n, 4) if threshold else None,
                "dev_mae": round(0.2 - 0.01 * n, 4),
                "regressor": "linear",
                "feature_normalisation": "speaker",
            }
            run = TrainingRun.objects.create(
                project=project,
                state=RunState.SUCCEEDED,
                trigger=RunTrigger.AUTO if n % 3 else RunTrigger.ADMIN,
                requested_by=None if n % 3 else admin,
                progress=1.0,
                metrics={**metrics, "inputs": f"bench-{n}"},
                outcome=RunOutcome.PROMOTED if promote else RunOutcome.NOT_BETTER,
                created_at=at,
                started_at=at,
                finished_at=at + dt.timedelta(seconds=40),
            )
            if promote:
                best = ccc["arousal"] + ccc["valence"]
            runs.append((run, metrics, promote))
        versions = []
        for run, metrics, promote in runs:
            versions.append(
                ModelVersion(
                    project=project,
                    run=run,
                    name=f"p{project.pk}-run{run.pk}",
                    artifact=f"models/p{project.pk}/run{run.pk}.joblib",
                    sha256=hashlib.sha256(str(run.pk).encode()).hexdigest(),
                    extractor_key="librosa-v1",
                    metrics=metrics,
                    created_at=run.finished_at,
                    promoted_at=run.finished_at if promote else None,
                )
            )
        ModelVersion.objects.bulk_create(versions)
    versions = list(ModelVersion.objects.filter(project=project).order_by("id"))
    promoted = [v for v in versions if v.promoted_at is not None]
    active = promoted[-1]
    ModelVersion.objects.filter(pk=active.pk).update(is_active=True)
    previous = promoted[-2] if len(promoted) > 1 else active

    # Machine labels of the active version; the previous version's, revoked where humans
    # rated since.
    machine = np.sort(order[:n_machine])
    label_rows.extend(
        Label(
            clip_id=int(clip_ids[i]),
            target=target,
            value=round(float(truth[i][t_i] + rng.normal(0, 0.08)), 4),
            source=LabelSource.MACHINE,
            confidence=round(float(rng.uniform(0.03, 0.12)), 4),
            model_version=active.name,
            created_at=active.promoted_at,
        )
        for i in machine
        for t_i, target in enumerate(TARGETS)
    )
    label_rows.extend(
        Label(
            clip_id=int(clip_ids[i]),
            target=target,
            value=round(float(rng.uniform(-0.8, 0.8)), 4),
            source=LabelSource.MACHINE,
            confidence=round(float(rng.uniform(0.05, 0.15)), 4),
            model_version=previous.name,
            created_at=previous.promoted_at,
            revoked_at=last_at[i],
            revoked_reason="human ratings arrived",
        )
        for i in rated[: len(rated) // 10]
        for target in TARGETS
    )
    with explicit_timestamps((Rating, "created_at"), (Label, "created_at")):
        Rating.objects.bulk_create(rating_rows, batch_size=2000)
        Label.objects.bulk_create(label_rows, batch_size=2000)

    # Live leases on a few clips awaiting humans.
    Assignment.objects.bulk_create(
        Assignment(
            project=project,
            clip_id=int(clip_ids[i]),
            rater=rater_users[n % raters],
            expires_at=now + dt.timedelta(minutes=10),
        )
        for n, i in enumerate(sorted(leased))
    )

    # Rater reliability and noise from all ratings (the platform's own estimate).
    rater_reliability_update(project_id=project.pk)

    # Snapshots every three hours over the span, then one now (the real service).
    with explicit_timestamps((ProjectSnapshot, "taken_at")):
        points = 24
        ProjectSnapshot.objects.bulk_create(
            ProjectSnapshot(
                project=project,
                taken_at=t0 + span * (p / points),
                states={
                    "new": 0,
                    "awaiting_humans": int(clips - (n_rated + n_machine) * p / points),
                    "leased": 0,
                    "rated": int(n_rated * p / points),
                    "machine_labelled": int(n_machine * p / points),
                    "deferred": 0,
                },
                labels={
                    "human": int(len(TARGETS) * n_rated * p / points),
                    "machine": int(len(TARGETS) * n_machine * p / points),
                },
                ratings=int(len(rating_rows) * p / points),
            )
            for p in range(points)
        )
    project_snapshot_take(project=project)

    # Audit log: settings changes through the real recorder, then volume.
    with transaction.atomic():
        before = fields_of(project, ["agreement_target", "human_budget_per_round"])
        project.agreement_target, project.human_budget_per_round = 0.75, 150
        project.save(update_fields=["agreement_target", "human_budget_per_round"])
        audit_record(
            actor=admin,
            project=project,
            action="project.update",
            target=project,
            before=before,
            after=fields_of(project, ["agreement_target", "human_budget_per_round"]),
        )
    with explicit_timestamps((AuditEntry, "created_at")):
        AuditEntry.objects.bulk_create(
            AuditEntry(
                project=project,
                actor=admin if n % 2 else researcher,
                action=("project.update", "rater.block", "rater.unblock", "training_run.request")[
                    n % 4
                ],
                object_type="project" if n % 4 in (0, 3) else "user",
                object_id=str(project.pk if n % 4 in (0, 3) else rater_users[n % raters].pk),
                before={"max_raters": max_raters} if n % 4 == 0 else {},
                after={"max_raters": max_raters} if n % 4 == 0 else {},
                created_at=t0 + span * (n / 200),
            )
            for n in range(200)
        )

    # Machine-label audits through the real service; a third of them completed.
    audits = (
        machine_audit_request(
            project=project, by=researcher, n=max(1, min(30, n_machine // 10)), random_state=seed
        )
        if n_machine
        else []
    )
    for audit in audits[: len(audits) // 3]:
        MachineLabelAudit.objects.filter(pk=audit.pk).update(
            human_values={
                t: round(float(v + rng.normal(0, 0.1)), 4) for t, v in audit.machine_values.items()
            },
            completed_at=now - dt.timedelta(minutes=5),
        )

    counts = {
        "clips": Clip.objects.filter(project=project).count(),
        "ratings": Rating.objects.filter(clip__project=project).count(),
        "raters": raters,
        "speakers": speakers,
        "live human labels": Label.objects.filter(
            clip__project=project, source=LabelSource.HUMAN, revoked_at__isnull=True
        ).count(),
        "live machine labels": Label.objects.filter(
            clip__project=project, source=LabelSource.MACHINE, revoked_at__isnull=True
        ).count(),
        "training runs": len(runs),
        "model versions": len(versions),
        "machine-label audits": len(audits),
        "audit entries": AuditEntry.objects.filter(project=project).count(),
        "snapshots": ProjectSnapshot.objects.filter(project=project).count(),
    }
    for state in ClipState:
        counts[f"state {state.value}"] = Clip.objects.filter(project=project, state=state).count()
    rated_clip = int(clip_ids[rated[len(rated) // 2]]) if len(rated) else int(clip_ids[0])
    machine_clip = int(clip_ids[machine[-1]]) if len(machine) else rated_clip
    return Built(
        project_id=project.pk,
        clip_id=rated_clip,
        machine_clip_id=machine_clip,
        researcher=researcher.username,
        admin=admin.username,
        password=PASSWORD,
        counts=counts,
        seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Call:
    page: str  # the page this request belongs to
    kind: str  # "page", "api" or "export"
    path: str
    role: str  # "researcher" or "admin"


def calls(built: Built) -> list[Call]:
    """Each page and the API reads it makes on load (frontend/static/concord/*.js)."""
    p, c, m = built.project_id, built.clip_id, built.machine_clip_id
    api = f"/api/v1/projects/{p}"
    r, a = "researcher", "admin"
    return [
        Call("dashboard", "page", f"/projects/{p}/", r),
        Call("dashboard", "api", f"{api}/dashboard/", r),
        Call("dashboard", "api", f"{api}/raters/", r),
        Call("clips", "page", f"/projects/{p}/clips/", r),
        Call("clips", "api", f"{api}/clips/?page=1&page_size=50", r),
        Call("clips", "api", f"{api}/clips/?page=1&page_size=50&state=rated", r),
        Call("clips", "api", f"{api}/clips/?page=1&page_size=50&ordering=queue", r),
        Call("clips", "api", f"{api}/clips/?page=1&page_size=50&speaker=spk042", r),
        Call("clips", "api", f"{api}/clips/?page=1&page_size=50&agreement_max=0.6", r),
        Call("clips", "api", f"{api}/audits/", r),
        Call("clip (rated)", "page", f"/projects/{p}/clips/{c}/", r),
        Call("clip (rated)", "api", f"/api/v1/clips/{c}/", r),
        Call("clip (machine)", "page", f"/projects/{p}/clips/{m}/", r),
        Call("clip (machine)", "api", f"/api/v1/clips/{m}/", r),
        Call("raters", "page", f"/projects/{p}/raters/", r),
        Call("raters", "api", f"{api}/raters/", r),
        Call("audits", "page", f"/projects/{p}/audits/", r),
        Call("audits", "api", f"{api}/audits/", r),
        Call("operations", "page", f"/projects/{p}/operations/", a),
        Call("operations", "api", f"{api}/settings/", a),
        Call("operations", "api", f"{api}/training-runs/?page_size=25", a),
        Call("operations", "api", f"{api}/model-versions/", a),
        Call("operations", "api", f"{api}/audit-log/?page=1&page_size=20", a),
        Call("dashboard (admin)", "api", f"{api}/dashboard/", a),
        Call("export", "export", f"{api}/export/labels/?format=csv", r),
        Call("export", "export", f"{api}/export/ratings/?format=csv", r),
    ]  # fmt: skip


def csv_rows(body: bytes) -> int:
    return max(0, sum(1 for _ in csv.reader(io.StringIO(body.decode("utf-8")))) - 1)


def query_counts(built: Built, wanted: list[Call]) -> dict[str, int]:
    """SQL queries per request, in-process through Django's test client."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    users = get_user_model().objects
    clients = {}
    for role, name in (("researcher", built.researcher), ("admin", built.admin)):
        clients[role] = Client(HTTP_HOST="127.0.0.1")
        clients[role].force_login(users.get(username=name))
    counts = {}
    for call in wanted:
        client = clients[call.role]
        client.get(call.path)  # warm caches (targets, sessions) as the timed runs do
        with CaptureQueriesContext(connection) as captured:
            response = client.get(call.path)
            if response.streaming:
                b"".join(response.streaming_content)
        counts[call.path + "|" + call.role] = len(captured.captured_queries)
    return counts


# --------------------------------------------------------------------------- timing


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def login(base: str, username: str, password: str):
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=30)
    page.raise_for_status()
    response = session.post(
        f"{base}/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if response.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"login as {username} failed: {response.status_code}")
    return session


@dataclass
class Timing:
    call: Call
    status: int
    seconds: list[float] = field(default_factory=list)
    bytes: int = 0
    rows: int | None = None
    queries: int | None = None


def time_calls(base: str, sessions: dict, wanted: list[Call], *, warmups: int, repeats: int):
    results = []
    for call in wanted:
        session = sessions[call.role]
        first = session.get(base + call.path, timeout=300)
        timing = Timing(call, first.status_code, bytes=len(first.content))
        if first.status_code != 200:
            results.append(timing)
            continue
        for _ in range(max(0, warmups - 1)):
            session.get(base + call.path, timeout=300)
        for _ in range(repeats):
            started = time.perf_counter()
            response = session.get(base + call.path, timeout=300)
            body = response.content  # the full body, streamed exports included
            timing.seconds.append(time.perf_counter() - started)
            if response.status_code != 200:
                timing.status = response.status_code
        timing.bytes = len(body)
        if call.kind == "export":
            timing.rows = csv_rows(body)
        results.append(timing)
        print(f"  {call.role:10s} {call.path}: {statistics.median(timing.seconds) * 1000:.0f} ms")
    return results


# --------------------------------------------------------------------------- report


def machine_lines(database_url: str) -> list[str]:
    import psycopg

    from bench.machine import describe

    with psycopg.connect(database_url) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return [describe() + f"; PostgreSQL {server.split()[0]} on the same host", load]


def shown(call: Call, built: Built) -> str:
    """A request path with the ids as placeholders, as the docs write routes."""
    return (
        call.path.replace(f"/projects/{built.project_id}/", "/projects/{id}/")
        .replace(f"/clips/{built.clip_id}/", "/clips/{cid}/")
        .replace(f"/clips/{built.machine_clip_id}/", "/clips/{cid}/")
    )


def table(results: list[Timing], built: Built) -> list[str]:
    lines = [
        "| page | request | as | median ms | p95 ms | SQL queries | size |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in results:
        if t.status != 200 or not t.seconds:
            continue
        size = f"{t.bytes / 1024:,.0f} KiB"
        if t.rows is not None:
            size += f", {t.rows:,} rows"
        kind = {"page": "page HTML", "api": "API", "export": "export"}[t.call.kind]
        lines.append(
            f"| {t.call.page} | {kind} `{shown(t.call, built)}` | {t.call.role} | "
            f"{statistics.median(t.seconds) * 1000:.1f} | {percentile(t.seconds, 95) * 1000:.1f} | "
            f"{'' if t.queries is None else t.queries} | {size} |"
        )
    return lines


def write_docs(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text()
    start = doc.find(DOCS_SECTION + "\n")
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = doc.find("\n## ", start + len(DOCS_SECTION))
        end = len(doc) if end < 0 else end + 1
        doc = doc[:start] + text.rstrip("\n") + "\n" + ("\n" + doc[end:] if end < len(doc) else "")
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--ratings", type=int, default=50_000)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    command = "python -m bench.bench_pages " + " ".join(sys.argv[1:])

    var = ROOT / "var" / "bench-pages"
    os.environ.update(
        DATABASE_URL=args.database_url,
        MEDIA_ROOT=str(var / "media"),
        CONCORD_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    os.environ.pop("REDIS_URL", None)
    from bench.bench_api import recreate_database

    recreate_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"Building {args.clips:,} clips and {args.ratings:,} ratings ...", flush=True)
    built = build_project(clips=args.clips, ratings=args.ratings, raters=args.raters)
    print(f"  built in {built.seconds:.1f} s: {built.counts}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum does after a bulk load
    connection.close()

    wanted = calls(built)
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "config.wsgi",
            "--bind", f"127.0.0.1:{args.port}",
            "--workers", str(args.workers),
            "--timeout", "300",
            "--log-level", "warning",
        ],
        cwd=ROOT,
        env=dict(os.environ),
    )  # fmt: skip
    base = f"http://127.0.0.1:{args.port}"
    load_before = os.getloadavg()
    try:
        import requests

        for _ in range(150):
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.RequestException:
                if server.poll() is not None:
                    raise RuntimeError(f"gunicorn exited (port {args.port} taken?)") from None
                time.sleep(0.2)
        sessions = {
            "researcher": login(base, built.researcher, built.password),
            "admin": login(base, built.admin, built.password),
        }
        print("Timing ...", flush=True)
        results = time_calls(base, sessions, wanted, warmups=args.warmups, repeats=args.repeats)
    finally:
        server.terminate()
        server.wait(timeout=60)
    load_after = os.getloadavg()

    measured = [t.call for t in results if t.status == 200 and t.seconds]
    counts = query_counts(built, measured)
    for t in results:
        t.queries = counts.get(t.call.path + "|" + t.call.role)

    machine, _ = machine_lines(args.database_url)
    skipped = [t for t in results if t.status != 200 or not t.seconds]
    rows = table(results, built)
    print()
    print("\n".join(rows))
    for t in skipped:
        print(f"skipped: {t.call.path} as {t.call.role} answered {t.status}")
    if not args.write_docs:
        return
    c = built.counts
    paragraphs = [
        "",
        f"`{command}` (issue 15's closing note): {machine}; gunicorn with "
        f"{args.workers} sync workers, the filesystem broker, the client on the same host. "
        f"Load average {load_before[0]:.1f} before the timed requests and "
        f"{load_after[0]:.1f} after"
        + (
            " (other work shared the machine, so treat single figures as indicative)."
            if max(load_before[0], load_after[0]) > 0.5 * (os.cpu_count() or 1)
            else "."
        ),
        "",
        f"The project (`bench.bench_pages.build_project`, built in {built.seconds:.0f} s): "
        f"{c['clips']:,} clips from {c['speakers']} speakers, {c['ratings']:,} ratings by "
        f"{c['raters']} raters, {c['live human labels']:,} live human and "
        f"{c['live machine labels']:,} live machine labels, {c['training runs']} training "
        f"runs, {c['machine-label audits']} machine-label audits, {c['audit entries']} audit "
        f"entries, {c['snapshots']} snapshots; clips by state: "
        + ", ".join(
            f"{k.removeprefix('state ')} {v:,}" for k, v in c.items() if k.startswith("state ")
        )
        + ".",
        "",
        f"Each row: {args.warmups} warm-up requests, then {args.repeats} timed ones to the "
        "full body (exports streamed to the end); SQL queries counted once in-process with "
        "Django's test client (the dashboard's count includes a snapshot when the newest is "
        "over a minute old). Pages are the HTML shell; each page's API rows follow it.",
    ]
    text = [DOCS_SECTION, ""]
    for paragraph in paragraphs:
        if paragraph:
            text += [textwrap.fill(paragraph, width=90, break_on_hyphens=False), ""]
    text += rows
    if skipped:
        skipped_text = "; ".join(f"`{t.call.path}` ({t.call.role}: {t.status})" for t in skipped)
        text += ["", textwrap.fill(f"Skipped: {skipped_text}.", width=90)]
    write_docs("\n".join(text) + "\n")
    print(f"\nwrote {DOCS_SECTION!r} in docs/benchmarks.md")


if __name__ == "__main__":
    main()
