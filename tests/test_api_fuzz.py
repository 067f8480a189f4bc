"""Fuzz the API from its own OpenAPI schema (issue 16, must-have 4).

schemathesis reads `/api/schema/` from the app in-process (WSGI) and, for every operation
and each role (rater, researcher, admin, anonymous), sends generated requests, valid and
invalid, with the role's DRF token. Every check runs: no 5xx, every status code, content
type, header and body the schema documents, invalid requests refused, valid ones
accepted, and the rest of `--checks all`. Each test (one operation, one role) starts from
the same small project, with clips whose audio exists, ratings, labels, a model version
and a training run, so the ids it is given mostly exist; half of the generated ids are
kept as drawn, so "does not exist" is fuzzed too.

Bounded for CI: a fixed seed and at most MAX_EXAMPLES generated cases per operation and
role (the coverage and examples phases add their own few).
"""

import contextlib
import uuid
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from annotate.models import Label, LabelSource, ModelVersion, ReferenceLabel, TrainingRun
from tests.conftest import make_clips, make_project, make_user

MAX_EXAMPLES = 12
SEED = 16

# What positive_data_acceptance expects by default, plus 400.
ACCEPTED_OR_400 = ["2xx", "3xx", 400, 401, 403, 404, 409, 429]


def refused_with_400(path: str, method: str) -> dict:
    """An operation that may answer a schema-valid request with a state-dependent 400."""
    return {
        "include-path": path,
        "include-method": method,
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_OR_400}},
    }


CONFIG = {
    "seed": SEED,
    # Requests through the whole app are slower than Hypothesis likes; not a bug.
    "suppress-health-check": ["too_slow", "filter_too_much"],
    "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
    "checks": {"enabled": True},
    # Narrow exceptions: a schema-valid request these operations refuse with a 400 that
    # depends on the project's state or data, which no schema can express; every other
    # check still runs on them.
    "operations": [
        # 400 `too_few_labels` until the project has enough human labels to train.
        refused_with_400("/api/v1/projects/{project_id}/retrain/", "POST"),
        # 400 `nothing_to_audit` while no machine-labelled clip is free to audit.
        refused_with_400("/api/v1/projects/{project_id}/audits/", "POST"),
        # 400 when no generated file is audio the decoder takes: nothing went in.
        refused_with_400("/api/v1/projects/{project_id}/clips/", "POST"),
        # 400 `bad_settings` for values the schema cannot bound: min_raters above
        # max_raters, an error setting above the project's widest scale. Each plain
        # range, unknown fields and an empty body are in the schema
        # (tests/annotate/test_operations.py checks it against the API).
        refused_with_400("/api/v1/projects/{project_id}/settings/", "PATCH"),
        # 400 `bad_filter` for a `target` that is not one of this project's targets.
        refused_with_400("/api/v1/projects/{project_id}/clips/", "GET"),
    ],
}

ROLES = ["rater", "researcher", "admin", "anonymous"]


@contextlib.contextmanager
def _test_transaction_survives_requests():
    """schemathesis calls the WSGI app directly, not through Django's test client, which
    keeps Django from closing the database connection around each request: on
    PostgreSQL that close would end the test's transaction (and every later request
    would answer 503 `database_unavailable`). Do what the test client does."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, media_root):
    """A small project as a campaign leaves it, and one DRF token per role."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    project = make_project("fuzz")
    clips = make_clips(project, 4)
    users = {
        "rater": make_user("rita", "rater", [project]),
        "researcher": make_user("rosa", "researcher", [project]),
        "admin": make_user("ada", "admin"),
    }
    other = make_user("otto", "rater", [project])
    for user in (users["rater"], other):
        client = APIClient()
        client.force_authenticate(user)
        lease = client.post(f"/api/v1/projects/{project.pk}/next/").json()
        client.post(
            f"/api/v1/assignments/{lease['assignment']['id']}/rating/",
            {"values": {"arousal": 0.2, "valence": -0.1}, "client_token": uuid.uuid4().hex},
            format="json",
        )
    # The rater holds a lease: its audio and its rating are reachable.
    rater_client = APIClient()
    rater_client.force_authenticate(users["rater"])
    lease = rater_client.post(f"/api/v1/projects/{project.pk}/next/").json()
    run = TrainingRun.objects.create(project=project, state="succeeded")
    version = ModelVersion.objects.create(
        project=project, run=run, name="fuzz-v1", artifact="none", sha256="0", extractor_key="x"
    )
    for target in ("arousal", "valence"):
        Label.objects.create(
            clip=clips[2],
            target=target,
            value=0.3,
            source=LabelSource.MACHINE,
            confidence=0.1,
            model_version=version.name,
        )
    ReferenceLabel.objects.create(clip=clips[0], target="arousal", value=0.59)
    tokens = {role: Token.objects.create(user=user).key for role, user in users.items()}
    ids = {
        "project_id": project.pk,
        "clip_id": clips[1].pk,
        "assignment_id": lease["assignment"]["id"] if lease else 1,
        "run_id": run.pk,
        "version_id": version.pk,
        "user_id": users["rater"].pk,
    }
    return {"tokens": tokens, "ids": ids}


def _load_schema():
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi(
        "/api/schema/", application, config=SchemathesisConfig.from_dict(CONFIG)
    )


schema = _load_schema()


def _existing_ids(case, ids):
    """Point about half the generated ids at objects that exist (chosen by the drawn value,
    so a run is reproducible); the rest stay as drawn and fuzz "does not exist"."""
    for name, value in (case.path_parameters or {}).items():
        if name in ids and isinstance(value, int) and zlib.crc32(str(value).encode()) % 2 == 0:
            case.path_parameters[name] = ids[name]


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
# `world` is built once per operation and role and shared by that test's generated cases:
# each case may change it (a pause, a revoke, a rating), the next one meets the result,
# as a client would.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_answers_as_its_schema_says(case, role, world):
    _existing_ids(case, world["ids"])
    headers = {}
    if role != "anonymous":
        headers["Authorization"] = f"Token {world['tokens'][role]}"
    with _test_transaction_survives_requests():
        case.call_and_validate(headers=headers)
