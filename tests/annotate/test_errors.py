"""Errors (issue 15, must-have 8): missing or foreign objects are 404 pages and JSON
404s, pages a role may not see are 403 pages, and every API error, DRF's own included,
is `{"detail", "code"}`."""

import json

import pytest
from django.test import Client
from rest_framework.exceptions import Throttled
from rest_framework.test import APIClient

from annotate.api.errors import exception_handler
from annotate.models import Assignment, Project
from tests.conftest import make_clips

pytestmark = pytest.mark.django_db


def _page_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"detail", "code"}, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["code"], str)
    assert body["code"]
    if code is not None:
        assert body["code"] == code, body
    return body


def _page(response, status: int, heading: str) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "concord/concord.css" in html  # the styled page, not Django's bare default
    assert heading in html
    assert 'href="/"' in html  # a way back
    return html


# Pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/rate/999/", "/projects/999/", "/projects/999/clips/"])
def test_a_missing_project_page_is_a_404_page(researcher, url):
    html = _page(_page_client(researcher).get(url), 404, "Not found")
    assert "this project does not exist or is not yours" in html.lower()


def test_a_foreign_project_page_is_the_same_404_page(project, outsider, rater):
    client = _page_client(outsider)
    for url in (f"/rate/{project.pk}/", f"/projects/{project.pk}/"):
        html = _page(client.get(url), 404, "Not found")
        assert "this project does not exist or is not yours" in html.lower()
        assert project.name not in html


def test_a_missing_clip_page_is_a_404_page(project, researcher, clips, outsider):
    client = _page_client(researcher)
    _page(client.get(f"/projects/{project.pk}/clips/999/"), 404, "Not found")
    # A clip of another project, asked through this project, is missing too.
    other = Project.objects.get(name="other-study")
    foreign = make_clips(other, 1, start_freq=900.0)[0]
    _page(client.get(f"/projects/{project.pk}/clips/{foreign.pk}/"), 404, "Not found")


def test_an_unknown_page_url_is_a_404_page(researcher):
    html = _page(_page_client(researcher).get("/no/such/page/"), 404, "Not found")
    assert "There is no page at this address" in html
    assert "tried" not in html  # no URL patterns leak


def test_a_rater_on_a_staff_page_gets_a_403_page_not_a_shell(project, rater):
    client = _page_client(rater)
    for url in (
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/clips/",
        f"/projects/{project.pk}/raters/",
        f"/projects/{project.pk}/audits/",
    ):
        html = _page(client.get(url), 403, "Not for your role")
        assert "only researchers and admins may do this" in html.lower()
        assert "data-project" not in html  # none of the page's shell


def test_the_404_page_for_a_signed_out_user_still_renders(db):
    response = Client(raise_request_exception=False).get("/no/such/page/")
    _page(response, 404, "Not found")


def test_a_crash_on_a_page_is_the_500_page_and_json_under_api(researcher, monkeypatch):
    from annotate import views

    def boom(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "projects_visible_to", lambda user: boom())
    response = _page_client(researcher).get("/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert "boom" not in response.content.decode()

    from annotate.api import projects as projects_api

    monkeypatch.setattr(projects_api, "projects_visible_to", lambda user: boom(), raising=False)
    monkeypatch.setattr(projects_api.ProjectListApi, "get", lambda self, request: boom())
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    _error(client.get("/api/v1/projects/"), 500, "server_error")


# API ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/projects/999/",
        "/api/v1/projects/999/stats/",
        "/api/v1/projects/999/clips/",
        "/api/v1/projects/999/audits/",
        "/api/v1/clips/999/",
        "/api/v1/clips/999/audio/",
        "/api/v1/training-runs/999/",
        "/api/v1/assignments/999/audio/",
    ],
)
def test_missing_objects_are_json_404s(researcher, client_for, url):
    _error(client_for(researcher).get(url), 404)


def test_foreign_objects_are_the_same_json_404s(project, clips, outsider, rater, client_for):
    client = client_for(outsider)
    missing = _error(client.get("/api/v1/projects/999/"), 404)
    foreign = _error(client.get(f"/api/v1/projects/{project.pk}/"), 404)
    assert missing == foreign
    _error(client.get(f"/api/v1/clips/{clips[0].pk}/"), 404, "no_clip")
    lease = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/")
    assert lease.status_code == 200
    assignment = Assignment.objects.get()
    _error(client.get(f"/api/v1/assignments/{assignment.pk}/audio/"), 404, "no_assignment")


@pytest.mark.parametrize(
    "url", ["/api/v1/nothing/", "/api/v1/projects/1/nothing/", "/api/nothing", "/api/"]
)
def test_unknown_api_urls_are_json_404s_not_html(researcher, url):
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    body = _error(client.get(url), 404, "not_found")
    assert "no API endpoint" in body["detail"]


def test_a_rater_on_a_staff_endpoint_gets_a_json_403(project, rater, client_for):
    _error(client_for(rater).get(f"/api/v1/projects/{project.pk}/stats/"), 403, "staff_only")


def test_method_not_allowed_is_405_in_the_error_shape(researcher, client_for):
    response = client_for(researcher).delete("/api/v1/projects/")
    _error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


@pytest.mark.parametrize("url", ["/api/v1/projects/", "/api/v1/ratings/", "/api/v1/clips/1/"])
def test_unauthenticated_is_401_in_the_error_shape(db, url):
    response = APIClient().get(url)
    _error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_bad_token_is_401_authentication_failed(db):
    response = APIClient().get("/api/v1/projects/", HTTP_AUTHORIZATION="Token nope")
    _error(response, 401, "authentication_failed")


def test_a_session_post_without_csrf_is_403_in_the_error_shape(project, researcher):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(researcher)
    body = _error(
        client.post(f"/api/v1/projects/{project.pk}/audits/", {"n": 1}, format="json"),
        403,
        "permission_denied",
    )
    assert "CSRF" in body["detail"]


def test_a_parse_error_is_400_in_the_error_shape(project, researcher, client_for):
    response = client_for(researcher).post(
        f"/api/v1/projects/{project.pk}/audits/", data="{bad", content_type="application/json"
    )
    _error(response, 400, "parse_error")


def test_an_unsupported_media_type_is_415_in_the_error_shape(project, researcher, client_for):
    response = client_for(researcher).post(
        f"/api/v1/projects/{project.pk}/audits/", data="n=1", content_type="text/plain"
    )
    _error(response, 415, "unsupported_media_type")


def test_drf_serializer_errors_are_flattened_with_their_fields(db):
    response = APIClient().post("/api/v1/auth/token/", {"username": "nobody"}, format="json")
    body = _error(response, 400, "required")
    assert body["detail"].startswith("password:")
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "nobody", "password": "x"}, format="json"
    )
    body = _error(response, 400, "authorization")
    assert not body["detail"].startswith("non_field_errors")


def test_throttled_is_429_in_the_error_shape_with_retry_after():
    response = exception_handler(Throttled(wait=7), {})
    assert response is not None
    assert response.status_code == 429
    assert response.data["code"] == "throttled"
    assert set(response.data) == {"detail", "code"}
    assert response["Retry-After"] == "7"


def test_domain_errors_keep_their_code(project, rater, client_for):
    response = client_for(rater).post("/api/v1/assignments/999/rating/", {}, format="json")
    _error(response, 404, "no_assignment")


def test_a_bad_request_django_refuses_is_json_under_api_and_a_page_elsewhere(db):
    # A Host header outside ALLOWED_HOSTS is refused by Django itself (handler400).
    client = Client(raise_request_exception=False)
    _error(client.get("/api/v1/projects/", HTTP_HOST="evil.example"), 400, "bad_request")
    page = client.get("/login/", HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
