"""/api/docs/ works without internet (issue 15, must-have 8): Swagger UI's script, style
and icon come from drf-spectacular-sidecar through our static files, never a CDN."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("who", ["rater", "researcher", "anonymous"])
def test_the_docs_page_references_only_local_static_files(who, request):
    client = Client()
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"']+", html)
    refs = _references(html)
    scripts_and_styles = [r for r in refs if r.endswith((".js", ".css"))]
    assert any(r.endswith("swagger-ui-bundle.js") for r in scripts_and_styles)
    assert any(r.endswith("swagger-ui.css") for r in scripts_and_styles)
    for ref in refs:
        assert ref.startswith(settings.STATIC_URL), ref
        # Every referenced file is found by the staticfiles finders, so collectstatic
        # (and whitenoise) serve it.
        assert finders.find(ref.removeprefix(settings.STATIC_URL)), ref


def test_the_schema_the_docs_page_loads_is_local_too(researcher):
    client = Client()
    client.force_login(researcher)
    html = client.get("/api/docs/").content.decode()
    assert '"/api/schema/"' in html
    assert client.get("/api/schema/").status_code == 200


def test_redoc_is_configured_from_the_sidecar_too():
    assert settings.SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] == "SIDECAR"
    assert settings.SPECTACULAR_SETTINGS["REDOC_DIST"] == "SIDECAR"
    assert finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")
