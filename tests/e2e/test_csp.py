"""The Content-Security-Policy breaks no page (issue 16, must-have 5): each main page, in
headless Chromium, renders and runs its scripts with no violation reported."""

import pytest

from tests.conftest import make_clips, make_project, make_user
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def study(media_root):
    project = make_project(min_raters=1)
    clips = make_clips(project, 3)
    make_user("rita", "rater", [project])
    admin = make_user("ada", "admin")
    admin.is_staff = admin.is_superuser = True  # the Django admin's pages too
    admin.save()
    return project, clips


def _visit(page, url, ready):
    messages = []
    page.on(
        "console",
        lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(url)
    page.wait_for_selector(ready)
    page.wait_for_timeout(500)  # late fetches, charts and the waveform
    violations = page.evaluate("window.__csp")
    assert violations == [], (url, violations)
    assert messages == [], (url, messages)


def test_the_rater_page_plays_under_the_policy(live_server, page, study):
    project, _ = study
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, live_server.url, "rita", "pw-rita")
    page.wait_for_url(f"**/rate/{project.pk}/")
    _visit(page, f"{live_server.url}/rate/{project.pk}/", "#targets input")
    page.wait_for_function("() => document.querySelector('#time').textContent.includes('/')")
    page.click("#play")
    page.wait_for_function("() => parseFloat(document.querySelector('#time').textContent) > 0.1")
    assert page.evaluate("window.__csp") == []


def test_the_staff_pages_render_under_the_policy(live_server, page, study):
    project, clips = study
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, live_server.url, "ada", "pw-ada")
    base = f"{live_server.url}/projects/{project.pk}"
    for url, ready in (
        (f"{base}/", "canvas"),
        (f"{base}/clips/", "table"),
        (f"{base}/clips/{clips[0].pk}/", "main"),
        (f"{base}/raters/", "main"),
        (f"{base}/audits/", "main"),
        (f"{base}/operations/", "main"),
        (f"{live_server.url}/api/docs/", ".swagger-ui"),
        (f"{live_server.url}/admin/", "#content"),
        (f"{live_server.url}/admin/annotate/project/{project.pk}/change/", "#content"),
        (f"{live_server.url}/admin/annotate/clip/", "#content"),
    ):
        _visit(page, url, ready)


def test_the_login_page_renders_under_the_policy(live_server, page, study):
    page.add_init_script(RECORD_VIOLATIONS)
    _visit(page, f"{live_server.url}/login/", "#id_username")
