"""The machine-label audit page (issue 15, must-have 4): roles, what the shell holds, and
the journey its script drives through the audits API: send machine-labelled clips to
humans, humans rate them, the measured error appears next to the claimed one."""

import uuid

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from annotate.models import (
    Clip,
    ClipState,
    Label,
    LabelSource,
    MachineLabelAudit,
    ModelVersion,
    TrainingRun,
)
from tests.conftest import make_clips, make_user

pytestmark = pytest.mark.django_db


def _page(user, project) -> tuple[int, str]:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get(f"/projects/{project.pk}/audits/")
    return response.status_code, response.content.decode()


@pytest.fixture
def version(project):
    run = TrainingRun.objects.create(project=project, state="succeeded")
    return ModelVersion.objects.create(
        project=project,
        run=run,
        name="p-audit",
        artifact="none",
        sha256="0",
        extractor_key="x",
        metrics={"self_label_threshold": 0.2},
        is_active=True,
    )


@pytest.fixture
def machine_labelled(project, media_root, version):
    """Four machine-labelled clips: arousal 0.5 claimed to be off by 0.1, valence 0.0
    claimed 0.05."""
    clips = make_clips(project, 4)
    Clip.objects.filter(pk__in=[c.pk for c in clips]).update(
        state=ClipState.MACHINE_LABELLED, ratings_wanted=0
    )
    for clip in clips:
        for target, value, error in (("arousal", 0.5, 0.1), ("valence", 0.0, 0.05)):
            Label.objects.create(
                clip=clip,
                target=target,
                value=value,
                source=LabelSource.MACHINE,
                confidence=error,
                model_version=version.name,
            )
    return clips


def test_researchers_get_the_page_with_form_nav_and_empty_state(project, researcher, version):
    status, html = _page(researcher, project)
    assert status == 200
    assert 'id="audit-form"' in html
    assert 'name="n"' in html
    assert 'max="500"' in html
    assert "Send 20 random machine-labelled clips to humans" in html
    assert f'<option value="{version.name}">' in html
    assert 'id="audits-empty"' in html
    assert "No audit yet" in html
    assert "concord/audits.js" in html
    assert f'href="/projects/{project.pk}/audits/" aria-current="page">Audits</a>' in html
    assert "0 clips machine-labelled now" in html


def test_admins_who_are_not_members_get_the_page(project, admin):
    status, _ = _page(admin, project)
    assert status == 200


def test_a_rater_gets_the_403_page(project, rater):
    status, html = _page(rater, project)
    assert status == 403
    assert "Not for your role" in html
    assert "audit-form" not in html


def test_an_outsider_gets_the_404_page(project, outsider):
    status, html = _page(outsider, project)
    assert status == 404
    assert "Not found" in html
    assert project.name not in html


def test_a_missing_project_is_the_404_page(researcher):
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    assert client.get("/projects/999/audits/").status_code == 404


def test_signed_out_users_are_sent_to_sign_in(project):
    response = Client().get(f"/projects/{project.pk}/audits/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_other_staff_pages_link_to_the_audits_page(project, researcher):
    client = Client()
    client.force_login(researcher)
    html = client.get(f"/projects/{project.pk}/raters/").content.decode()
    assert f'href="/projects/{project.pk}/audits/"' in html


def test_the_page_scripts_and_styles_are_local_static_files(project, researcher):
    _, html = _page(researcher, project)
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html
    for name in ("concord/audits.js", "concord/audits.css"):
        assert name in html
        assert finders.find(name)


def test_the_page_counts_the_clips_there_are_to_audit(project, researcher, machine_labelled):
    _, html = _page(researcher, project)
    assert "4 clips machine-labelled now" in html


def test_send_rate_and_read_the_measured_error(
    project, researcher, rater, other_rater, machine_labelled, version, client_for
):
    staff = client_for(researcher)
    sent = staff.post(f"/api/v1/projects/{project.pk}/audits/", {"n": 2}, format="json")
    assert sent.status_code == 201, sent.content
    assert sent.json()["created"] == 2
    audited = set(sent.json()["clips"])

    waiting = staff.get(f"/api/v1/projects/{project.pk}/audits/").json()
    assert [(v["model_version"], v["audited"], v["completed"]) for v in waiting] == [
        (version.name, 2, 0)
    ]
    assert waiting[0]["targets"]["arousal"]["measured_error"] is None

    # Every rater the audited clips want rates them: arousal 0.2 (0.3 below the machine's
    # 0.5), valence 0.0 (as the machine said).
    wanted = Clip.objects.get(pk=next(iter(audited))).ratings_wanted
    raters = [rater, other_rater] + [
        make_user(f"extra{i}", "rater", [project]) for i in range(max(0, wanted - 2))
    ]
    for user in raters:
        client = client_for(user)
        for _ in audited:
            lease = client.post(f"/api/v1/projects/{project.pk}/next/")
            assert lease.status_code == 200, lease.content
            assert lease.json()["clip"]["id"] in audited  # audited clips come first
            rated = client.post(
                f"/api/v1/assignments/{lease.json()['assignment']['id']}/rating/",
                {"values": {"arousal": 0.2, "valence": 0.0}, "client_token": uuid.uuid4().hex},
                format="json",
            )
            assert rated.status_code == 201, rated.content

    done = staff.get(f"/api/v1/projects/{project.pk}/audits/").json()[0]
    assert (done["audited"], done["completed"]) == (2, 2)
    arousal = done["targets"]["arousal"]
    assert arousal["clips"] == 2
    assert arousal["measured_error"] == pytest.approx(0.3)
    assert arousal["interval_low"] == pytest.approx(0.3)
    assert arousal["interval_high"] == pytest.approx(0.3)
    assert arousal["claimed_error"] == pytest.approx(0.1)
    assert done["targets"]["valence"]["measured_error"] == pytest.approx(0.0)
    assert MachineLabelAudit.objects.count() == 2

    # Nothing left to draw from the two audited clips: the page's form is refused with a
    # sentence when no machine-labelled clip is free.
    Clip.objects.filter(state=ClipState.MACHINE_LABELLED).update(state=ClipState.DEFERRED)
    refused = staff.post(f"/api/v1/projects/{project.pk}/audits/", {"n": 5}, format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "nothing_to_audit"


def test_a_rater_cannot_send_an_audit(project, rater, machine_labelled, client_for):
    response = client_for(rater).post(
        f"/api/v1/projects/{project.pk}/audits/", {"n": 1}, format="json"
    )
    assert response.status_code == 403
    assert MachineLabelAudit.objects.count() == 0
