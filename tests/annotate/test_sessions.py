"""A browser session is read with its user and their profile in one query
(annotate.sessions), and Django's session checks still hold on that user: sign-out, a
changed password, a deactivated or deleted user."""

import importlib

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotate.models import UserSession

pytestmark = pytest.mark.django_db

MINE = "/api/v1/projects/"  # the projects the signed-in user belongs to


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_session_its_user_and_their_role_come_in_one_query(rater, project):
    browser = _signed_in(rater)
    assert UserSession.objects.get().user_id == rater.pk
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(MINE)
    assert response.status_code == 200, response.content
    assert [p["name"] for p in response.json()] == [project.name]
    first, *rest = [q["sql"] for q in queries.captured_queries]
    assert "annotate_usersession" in first
    assert "auth_user" in first
    assert "annotate_raterprofile" in first
    # Neither the user nor their role (the profile) is read again.
    assert not [sql for sql in rest if 'FROM "auth_user"' in sql or "raterprofile" in sql]


def test_a_session_ends_with_sign_out_a_new_password_deactivation_or_deletion(
    rater, other_rater, researcher, project
):
    signed_out = _signed_in(rater)
    assert signed_out.get(MINE).status_code == 200
    signed_out.post("/logout/")
    assert signed_out.get(MINE).status_code == 401
    assert not UserSession.objects.filter(user=rater).exists()

    new_password = _signed_in(other_rater)
    other_rater.set_password("another long password")
    other_rater.save()
    assert new_password.get(MINE).status_code == 401  # the session's hash no longer matches

    deactivated = _signed_in(researcher)
    researcher.is_active = False
    researcher.save()
    assert deactivated.get(MINE).status_code == 401

    deleted = _signed_in(rater)
    rater.delete()
    assert not UserSession.objects.filter(user_id=rater.pk).exists()  # gone with the user
    assert deleted.get(MINE).status_code == 401


def test_sessions_signed_in_before_the_upgrade_stay_signed_in(rater, project):
    from django.apps import apps

    old = DjangoSessionStore()
    old[SESSION_KEY] = str(rater.pk)
    old["_auth_user_backend"] = "annotate.auth.LockoutModelBackend"
    old["_auth_user_hash"] = rater.get_session_auth_hash()
    old.create()
    anonymous = DjangoSessionStore()
    anonymous["cart"] = "none"
    anonymous.create()
    assert Session.objects.count() == 2
    migration = importlib.import_module("annotate.migrations.0024_user_session")
    migration.carry_over_sessions(apps, None)
    carried = dict(UserSession.objects.values_list("session_key", "user_id"))
    assert carried == {old.session_key: rater.pk, anonymous.session_key: None}
    browser = Client()
    browser.cookies["sessionid"] = old.session_key
    assert browser.get(MINE).status_code == 200
