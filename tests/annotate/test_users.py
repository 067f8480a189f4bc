import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from annotate.models import RaterProfile

pytestmark = pytest.mark.django_db


def test_add_user_creates_a_rater_in_a_project(project, capsys):
    call_command("add_user", "nina", role="rater", password="s3cret-pw", project=["study"])
    user = authenticate(username="nina", password="s3cret-pw")
    assert user is not None
    assert user.profile.role == "rater"
    assert list(user.projects.all()) == [project]
    assert "created rater nina" in capsys.readouterr().out


def test_add_user_again_updates_role_and_password(db):
    call_command("add_user", "nina", role="rater", password="one-pw")
    call_command("add_user", "nina", role="admin", password="two-pw")
    user = authenticate(username="nina", password="two-pw")
    assert user.profile.role == "admin"
    assert user.is_superuser
    assert user.is_staff
    assert RaterProfile.objects.count() == 1


def test_unknown_project_is_refused_and_creates_nothing(db):
    with pytest.raises(CommandError, match="no project named 'nope'"):
        call_command("add_user", "nina", role="rater", password="pw-pw", project=["nope"])
    assert not RaterProfile.objects.exists()


def test_bulk_csv_reports_bad_rows_by_line(project, tmp_path, capsys):
    path = tmp_path / "users.csv"
    path.write_text(
        "username,password,role,projects\n"
        "ann,pw-ann,rater,study\n"
        "bob,pw-bob,boss,study\n"
        "cat,pw-cat,researcher,study;missing\n"
        "dan,pw-dan,researcher,\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        call_command("add_user", csv=path)
    assert exit_info.value.code == 2
    out = capsys.readouterr()
    assert "line 3: role must be one of" in out.err
    assert "line 4: no project named 'missing'" in out.err
    assert "2 users created" in out.out
    assert sorted(RaterProfile.objects.values_list("user__username", flat=True)) == ["ann", "dan"]
