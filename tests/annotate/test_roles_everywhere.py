"""Roles on every route (issue 15, must-have 9), found by walking the URL conf rather than
listed by hand, so a page or endpoint added later is covered the day it lands.

A rater of the project gets 403 on everything that is not the rating flow; a researcher
of another project gets 404 on everything of this project; neither ever gets a 5xx.
"""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from annotate.models import ModelVersion, TrainingRun
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

# What a rater may use: the rating flow, their own ratings, their account, the docs.
RATER_ROUTES = {
    "home",
    "login",
    "logout",
    "rate",
    "healthz",
    "schema",
    "api-docs",
    "api:auth-token",
    "api:project-list",
    "api:project-detail",
    "api:project-next",
    "api:project-progress",
    "api:rating-create",
    "api:rating-list",
    "api:assignment-audio",
}
# Route names a role check cannot reach through: the rater's own objects.
ROUTES_OF_OWN_OBJECTS = {"api:rating-create", "api:assignment-audio"}


def _routes(patterns=None, prefix="", namespace=""):
    """(name, regex of the full path, view) for every named route of the project."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern), entry.callback


def _methods(view) -> list[str]:
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if cls is None:
        return ["get"]
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)]


def _path(route: str, ids: dict[str, int]) -> str | None:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        for key, value in ids.items():
            if key in name:
                return str(value)
        raise KeyError(name)

    try:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)
    except KeyError:
        return None


@pytest.fixture
def objects(project, clips, rater):
    run = TrainingRun.objects.create(project=project, state="succeeded")
    version = ModelVersion.objects.create(
        project=project, run=run, name="p-roles", artifact="none", sha256="0", extractor_key="x"
    )
    return {
        "project": project.pk,
        "clip": clips[0].pk,
        "run": run.pk,
        "model": version.pk,
        "version": version.pk,
        "user": rater.pk,
        "rater": rater.pk,
        "assignment": 1,
        "audit": 1,
        "prior": 1,
    }


def _staff_routes(objects):
    for name, route, view in _routes():
        if name in RATER_ROUTES or name.startswith("admin:") or "(?P" in route:
            continue
        path = _path(route, objects)
        if path is None:
            raise AssertionError(f"route {name} ({route}) has an argument this test cannot fill")
        yield name, path, _methods(view)


def test_every_route_is_checked(objects):
    names = {name for name, _, _ in _staff_routes(objects)}
    # The walk found the staff pages and endpoints, not just a few.
    assert {"dashboard", "api:project-stats", "api:project-retrain"} <= names


def test_rater_gets_403_on_every_staff_route(objects, rater):
    client = Client()
    client.force_login(rater)
    failures = []
    for name, path, methods in _staff_routes(objects):
        for method in methods:
            response = getattr(client, method)(path, content_type="application/json")
            if response.status_code != 403:
                failures.append(f"{method.upper()} {path} ({name}): {response.status_code}")
    assert not failures, "\n".join(failures)


def test_outsider_gets_404_on_every_route_of_the_project(objects):
    outsider = make_user("oscar", "researcher")
    client = Client()
    client.force_login(outsider)
    failures = []
    for name, path, methods in _staff_routes(objects):
        if "<" not in next(r for n, r, _ in _routes() if n == name):
            continue  # not about one object: nothing to hide
        for method in methods:
            response = getattr(client, method)(path, content_type="application/json")
            if response.status_code != 404:
                failures.append(f"{method.upper()} {path} ({name}): {response.status_code}")
    assert not failures, "\n".join(failures)


def test_rater_routes_never_fail_on_foreign_ids(objects):
    """Routes a rater may use answer 404 for another project's objects, never 500."""
    stranger = make_user("sam", "rater")
    client = Client()
    client.force_login(stranger)
    for name, route, view in _routes():
        if name not in RATER_ROUTES or "<" not in route or name in ROUTES_OF_OWN_OBJECTS:
            continue
        path = _path(route, objects)
        for method in _methods(view):
            response = getattr(client, method)(path, content_type="application/json")
            assert response.status_code == 404, f"{method.upper()} {path}: {response.status_code}"
