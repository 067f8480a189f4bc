"""Admin actions (issue 15, must-have 5): settings, pause and resume, revoking a model
version's machine labels, the audit log, the operations page, and who may do what."""

from types import SimpleNamespace

import pytest
from django.contrib.admin.sites import site
from django.test import Client, RequestFactory

from annotate.models import (
    AuditEntry,
    Clip,
    ClipState,
    Label,
    LabelSource,
    ModelVersion,
    Project,
    TrainingRun,
)
from annotate.services.project_settings import SETTINGS, project_settings_update
from tests.conftest import make_clips, make_project, make_user

pytestmark = pytest.mark.django_db


def settings_url(project: Project) -> str:
    return f"/api/v1/projects/{project.pk}/settings/"


def _version(project: Project, name: str, *, active: bool) -> ModelVersion:
    run = TrainingRun.objects.create(project=project, state="succeeded")
    return ModelVersion.objects.create(
        project=project,
        run=run,
        name=name,
        artifact="none",
        sha256="0",
        extractor_key="x",
        metrics={"dev_ccc": {"arousal": 0.61, "valence": 0.32}},
        is_active=active,
    )


def _machine_label(clip: Clip, version: ModelVersion) -> None:
    for target in ("arousal", "valence"):
        Label.objects.create(
            clip=clip,
            target=target,
            value=0.25,
            source=LabelSource.MACHINE,
            confidence=0.1,
            model_version=version.name,
        )
    Clip.objects.filter(pk=clip.pk).update(
        state=ClipState.MACHINE_LABELLED, ratings_wanted=0, priority=0.0
    )


@pytest.fixture
def labelled(project, media_root):
    """Five clips: three machine-labelled by the active p-new, one by the older p-old,
    and one awaiting humans."""
    clips = make_clips(project, 5)
    old = _version(project, "p-old", active=False)
    new = _version(project, "p-new", active=True)
    for clip in clips[:3]:
        _machine_label(clip, new)
    _machine_label(clips[3], old)
    return SimpleNamespace(clips=clips, old=old, new=new)


# ---- settings ---------------------------------------------------------------------


def test_admin_changes_settings_with_an_audit_entry_of_the_changed_fields(
    client_for, admin, project
):
    response = client_for(admin).patch(
        settings_url(project),
        {"min_raters": 3, "agreement_target": 0.8, "max_raters": 5, "lease_seconds": 900},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["min_raters"] == 3
    assert body["agreement_target"] == 0.8
    assert body["paused"] is False
    project.refresh_from_db()
    assert (project.min_raters, project.agreement_target, project.lease_seconds) == (3, 0.8, 900)
    entry = AuditEntry.objects.get(action="project.update")
    assert entry.actor == admin
    assert entry.project == project
    # max_raters was sent unchanged: only what changed is logged.
    assert entry.before == {"min_raters": 2, "agreement_target": 0.7, "lease_seconds": 600}
    assert entry.after == {"min_raters": 3, "agreement_target": 0.8, "lease_seconds": 900}


def test_settings_read_by_researchers(client_for, researcher, project):
    body = client_for(researcher).get(settings_url(project)).json()
    assert body["self_label_max_error"] == project.self_label_max_error
    assert body["machine_label_revoke_tolerance"] == project.machine_label_revoke_tolerance
    assert body["retrain_after_labels"] == project.retrain_after_labels
    assert body["paused"] is False


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"min_raters": 6}, "min_raters", "must not exceed max_raters (5)"),
        ({"min_raters": 4, "max_raters": 3}, "max_raters", "min_raters (4)"),
        ({"agreement_target": 1.5}, "agreement_target", "at most 1"),
        ({"self_label_max_error": 0}, "self_label_max_error", "above 0"),
        ({"self_label_max_error": 3.0}, "self_label_max_error", "widest target scale"),
        ({"machine_label_target_error": "big"}, "machine_label_target_error", "a number"),
        ({"rater_panel": 2.5}, "rater_panel", "whole number"),
        ({"retrain_after_labels": -1}, "retrain_after_labels", "at least 0"),
        ({"lease_seconds": True}, "lease_seconds", "a number"),
        ({"machine_labels_as_good_as_humans": "yes"}, "machine_labels_as_good_as_humans", "true"),
        ({"colour": "blue"}, "colour", "unknown setting"),
        ({"paused": True}, "paused", "pause and resume"),
    ],
)
def test_bad_settings_are_refused_whole_naming_the_field(
    client_for, admin, project, changes, field, says
):
    before = Project.objects.values().get(pk=project.pk)
    response = client_for(admin).patch(
        settings_url(project), {"lease_seconds": 1200, **changes}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "bad_settings"
    assert field in body["detail"]
    assert says in body["fields"][field]
    assert Project.objects.values().get(pk=project.pk) == before  # nothing applied
    assert not AuditEntry.objects.exists()


def test_the_schema_gives_each_settings_range_as_the_api_enforces_it(client_for, admin, project):
    """The PATCH body's schema is SETTINGS: each range, no other field, not empty. Each
    bound is checked against the API: on it accepted, past it refused."""
    schema = client_for(admin).get("/api/schema/?format=json").json()
    body = schema["components"]["schemas"]["PatchedProjectSettingsChange"]
    assert body["additionalProperties"] is False
    assert body["minProperties"] == 1
    assert set(body["properties"]) == set(SETTINGS)
    # min_raters and max_raters are also bounded by each other: widen the other one.
    room = {"min_raters": {"max_raters": 100}, "max_raters": {"min_raters": 1}}
    checked = 0
    for name, rule in SETTINGS.items():
        field = body["properties"][name]
        assert field["type"] == {bool: "boolean", int: "integer", float: "number"}[rule.kind]
        if rule.kind is bool:
            continue
        step = 1 if rule.kind is int else 1e-6
        for bound, key, past in ((rule.low, "minimum", -step), (rule.high, "maximum", step)):
            if bound is None:
                assert key not in field, name
                continue
            assert field[key] == bound, name
            exclusive = key == "minimum" and rule.low_open
            assert field.get("exclusiveMinimum", False) is exclusive, name
            for value, accepted in ((bound, not exclusive), (bound + past, False)):
                value = rule.kind(value)
                response = client_for(admin).patch(
                    settings_url(project), {**room.get(name, {}), name: value}, format="json"
                )
                assert (response.status_code == 200) is accepted, (name, value, response.json())
                if not accepted:
                    assert name in response.json()["fields"]
                checked += 1
    assert checked >= 2 * 8


def test_empty_settings_change_is_refused(client_for, admin, project):
    response = client_for(admin).patch(settings_url(project), {}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "no_settings"


def test_unchanged_values_change_nothing_and_log_nothing(project, admin):
    project_settings_update(project=project, changes={"min_raters": 2}, actor=admin)
    assert not AuditEntry.objects.exists()


def test_a_whole_float_is_stored_as_an_integer_setting(project, admin):
    updated = project_settings_update(project=project, changes={"max_raters": 7.0}, actor=admin)
    assert updated.max_raters == 7
    assert AuditEntry.objects.get().after == {"max_raters": 7}


def test_django_admin_changes_are_audit_logged(project):
    superuser = make_user("root", "admin")
    request = RequestFactory().post("/admin/")
    request.user = superuser
    obj = Project.objects.get(pk=project.pk)
    obj.agreement_target = 0.9
    form = SimpleNamespace(changed_data=["agreement_target"])
    site._registry[Project].save_model(request, obj, form, True)
    entry = AuditEntry.objects.get(action="project.update")
    assert entry.actor == superuser
    assert (entry.before, entry.after) == ({"agreement_target": 0.7}, {"agreement_target": 0.9})


# ---- pause and resume -------------------------------------------------------------


def test_paused_project_tells_raters_so_and_resumes(client_for, admin, rater, project, clips):
    pause = client_for(admin).post(f"/api/v1/projects/{project.pk}/pause/")
    assert pause.status_code == 200
    assert pause.json() == {"paused": True}
    assert Project.objects.get(pk=project.pk).paused
    answer = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/")
    assert answer.status_code == 409
    assert answer.json()["code"] == "project_paused"
    assert "paused" in answer.json()["detail"]
    # Pausing again is a no-op: one audit entry.
    client_for(admin).post(f"/api/v1/projects/{project.pk}/pause/")
    assert AuditEntry.objects.filter(action="project.pause").count() == 1
    entry = AuditEntry.objects.get(action="project.pause")
    assert (entry.before, entry.after, entry.actor) == ({"paused": False}, {"paused": True}, admin)
    resume = client_for(admin).post(f"/api/v1/projects/{project.pk}/resume/")
    assert resume.json() == {"paused": False}
    assert AuditEntry.objects.filter(action="project.resume", actor=admin).exists()
    assert client_for(rater).post(f"/api/v1/projects/{project.pk}/next/").status_code == 200


def test_paused_answer_is_documented_in_the_schema(client):
    text = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/projects/{project_id}/settings/",
        "/api/v1/projects/{project_id}/pause/",
        "/api/v1/projects/{project_id}/resume/",
        "/api/v1/model-versions/{version_id}/revoke/",
        "/api/v1/projects/{project_id}/audit-log/",
    ):
        assert path in text
    assert "project_paused" in text


# ---- revoking a model version ---------------------------------------------------


def test_revoking_the_active_version_requeues_its_clips_and_deactivates_it(
    client_for, admin, rater, project, labelled
):
    url = f"/api/v1/model-versions/{labelled.new.pk}/revoke/"
    preview = client_for(admin).get(url).json()
    assert preview == {
        "model_version": "p-new",
        "labels": 6,
        "clips": 3,
        "requeued": 3,
        "deactivated": True,
    }
    assert Label.objects.filter(revoked_at__isnull=True, model_version="p-new").count() == 6

    response = client_for(admin).post(url)
    assert response.status_code == 200, response.json()
    assert response.json() == preview
    revoked = Label.objects.filter(model_version="p-new")
    assert all(label.revoked_at is not None for label in revoked)
    assert all("revoked by ada" in label.revoked_reason for label in revoked)
    for clip in labelled.clips[:3]:
        clip.refresh_from_db()
        assert clip.state == ClipState.AWAITING_HUMANS
        assert clip.ratings_wanted == project.min_raters
    # The other version's labels and clip are untouched.
    assert Label.objects.filter(model_version="p-old", revoked_at__isnull=True).count() == 2
    assert Clip.objects.get(pk=labelled.clips[3].pk).state == ClipState.MACHINE_LABELLED
    labelled.new.refresh_from_db()
    assert labelled.new.is_active is False
    entry = AuditEntry.objects.get(action="model_version.revoke")
    assert entry.actor == admin
    assert entry.object_id == str(labelled.new.pk)
    assert entry.after["labels_revoked"] == 6
    assert entry.after["clips_requeued"] == 3
    assert entry.before == {"is_active": True, "live_machine_labels": 6}
    # The clips are back with people: a rater is served them.
    served = set()
    for user in (rater, make_user("rex", "rater", [project]), make_user("rue", "rater", [project])):
        lease = client_for(user).post(f"/api/v1/projects/{project.pk}/next/").json()
        served.add(lease["clip"]["id"])
    assert {c.pk for c in labelled.clips[:3]} & served
    # Nothing is left to revoke.
    again = client_for(admin).post(url)
    assert again.status_code == 409
    assert again.json()["code"] == "nothing_to_revoke"


def test_revoking_an_old_version_keeps_the_active_model_and_started_clips(
    client_for, admin, project, labelled
):
    Clip.objects.filter(pk=labelled.clips[3].pk).update(n_ratings=1)  # someone rated it
    response = client_for(admin).post(f"/api/v1/model-versions/{labelled.old.pk}/revoke/")
    body = response.json()
    assert (body["labels"], body["clips"], body["requeued"], body["deactivated"]) == (
        2,
        1,
        0,
        False,
    )
    assert ModelVersion.objects.get(pk=labelled.new.pk).is_active
    assert Clip.objects.get(pk=labelled.clips[3].pk).state == ClipState.MACHINE_LABELLED


def test_model_versions_list_counts_live_machine_labels(
    client_for, researcher, admin, project, labelled
):
    url = f"/api/v1/projects/{project.pk}/model-versions/"
    rows = {r["name"]: r for r in client_for(researcher).get(url).json()}
    assert rows["p-new"]["live_machine_labels"] == 6
    assert rows["p-new"]["clips"] == 3
    assert rows["p-new"]["is_active"] is True
    assert rows["p-new"]["dev_ccc"] == {"arousal": 0.61, "valence": 0.32}
    assert rows["p-new"]["revoked_at"] is None
    client_for(admin).post(f"/api/v1/model-versions/{labelled.new.pk}/revoke/")
    rows = {r["name"]: r for r in client_for(researcher).get(url).json()}
    assert rows["p-new"]["live_machine_labels"] == 0
    assert rows["p-new"]["revoked_at"] is not None


# ---- audit log ----------------------------------------------------------------------


def test_audit_log_newest_first_paginated_and_of_this_project_only(
    client_for, admin, researcher, project
):
    other = make_project("elsewhere")
    project_settings_update(project=other, changes={"min_raters": 1}, actor=admin)
    for n in (3, 4, 5):
        project_settings_update(project=project, changes={"max_raters": n + 3}, actor=admin)
    url = f"/api/v1/projects/{project.pk}/audit-log/"
    body = client_for(researcher).get(url, {"page_size": 2}).json()
    assert body["count"] == 3
    first = body["results"][0]
    assert set(first) == {
        "id",
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
    }
    assert first["actor"] == "ada"
    assert first["action"] == "project.update"
    assert first["object_type"] == "project"
    assert (first["before"], first["after"]) == ({"max_raters": 7}, {"max_raters": 8})
    assert body["results"][1]["after"] == {"max_raters": 7}
    assert body["next"]
    last = client_for(researcher).get(url, {"page_size": 2, "page": 2}).json()
    assert [e["after"] for e in last["results"]] == [{"max_raters": 6}]


# ---- roles ------------------------------------------------------------------------

ADMIN_ACTIONS = [
    ("patch", "/api/v1/projects/{p}/settings/"),
    ("post", "/api/v1/projects/{p}/pause/"),
    ("post", "/api/v1/projects/{p}/resume/"),
    ("get", "/api/v1/model-versions/{v}/revoke/"),
    ("post", "/api/v1/model-versions/{v}/revoke/"),
    ("get", "/projects/{p}/operations/"),
]
STAFF_READS = [
    ("get", "/api/v1/projects/{p}/settings/"),
    ("get", "/api/v1/projects/{p}/audit-log/"),
    ("get", "/api/v1/projects/{p}/model-versions/"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ACTIONS + STAFF_READS)
def test_raters_403_outsiders_404(method, path, project, labelled, rater, outsider):
    url = path.format(p=project.pk, v=labelled.new.pk)
    for user, expected in ((rater, 403), (outsider, 404)):
        client = Client()
        client.force_login(user)
        response = getattr(client, method)(url, {}, content_type="application/json")
        assert response.status_code == expected, (user.username, url, response.content[:200])
    # Nothing was changed by the refused requests.
    assert not AuditEntry.objects.exists()
    assert ModelVersion.objects.get(pk=labelled.new.pk).is_active


@pytest.mark.parametrize(("method", "path"), ADMIN_ACTIONS)
def test_researchers_may_not_act(method, path, project, labelled, researcher):
    client = Client()
    client.force_login(researcher)
    response = getattr(client, method)(
        path.format(p=project.pk, v=labelled.new.pk), {}, content_type="application/json"
    )
    assert response.status_code == 403
    if path.startswith("/api/"):
        assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize(("method", "path"), STAFF_READS)
def test_researchers_read(method, path, project, labelled, researcher):
    client = Client()
    client.force_login(researcher)
    assert getattr(client, method)(path.format(p=project.pk)).status_code == 200


def test_missing_model_version_is_404(client_for, admin, project):
    version = _version(project, "p-gone", active=True)
    ModelVersion.objects.filter(pk=version.pk).delete()
    response = client_for(admin).post(f"/api/v1/model-versions/{version.pk}/revoke/")
    assert response.status_code == 404
    assert response.json()["code"] == "no_model_version"


# ---- the page -----------------------------------------------------------------------


def test_operations_page_for_admins_only_with_nav_links(project, admin, researcher, labelled):
    client = Client()
    client.force_login(admin)
    page = client.get(f"/projects/{project.pk}/operations/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'aria-current="page">Operations' in html
    assert 'href="/admin/"' in html
    assert "concord/operations.js" in html
    for element in ("retrain", "cancel-run", "settings-form", "pause-toggle", "revoke-dialog"):
        assert f'id="{element}"' in html
    assert 'name="machine_label_revoke_tolerance"' in html
    for empty in ("runs-empty", "versions-empty", "audit-empty"):
        assert f'id="{empty}"' in html
    client.force_login(researcher)
    assert client.get(f"/projects/{project.pk}/operations/").status_code == 403
    staff_page = client.get(f"/projects/{project.pk}/raters/").content.decode()
    assert ">Operations<" not in staff_page
    assert 'href="/admin/"' not in staff_page


def test_operations_page_of_a_missing_project_is_404(admin):
    client = Client()
    client.force_login(admin)
    assert client.get("/projects/99999/operations/").status_code == 404


def test_django_admin_lists_campaign_records_read_only(project, admin, labelled):
    from django.contrib.auth import get_user_model

    project_settings_update(project=project, changes={"min_raters": 1}, actor=admin)
    root = get_user_model().objects.create_superuser("root", password="pw-root")
    client = Client()
    client.force_login(root)
    entry = AuditEntry.objects.get()
    for model in (
        "auditentry",
        "trainingrun",
        "projectsnapshot",
        "raterblock",
        "machinelabelaudit",
    ):
        listing = client.get(f"/admin/annotate/{model}/")
        assert listing.status_code == 200, model
        assert client.get(f"/admin/annotate/{model}/add/").status_code == 403, model
    detail = client.get(f"/admin/annotate/auditentry/{entry.pk}/change/")
    assert detail.status_code == 200
    assert "Save" not in detail.content.decode()  # view only
    assert client.get("/admin/annotate/trainingrun/").content.decode().count("Outcome")
