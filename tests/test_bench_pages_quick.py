"""bench.bench_pages on a tiny project, in-process: the data builder runs on the test
database and every page and API read it times answers 200, so the benchmark cannot rot
(no gunicorn here; `python -m bench.bench_pages` times the real thing)."""

import pytest

from bench.bench_pages import build_project, calls, csv_rows, query_counts


@pytest.mark.django_db
def test_bench_pages_builder_and_requests(media_root):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from annotate.models import Clip, ClipState, Label, MachineLabelAudit, RaterNoise, Rating

    built = build_project(clips=50, ratings=200, raters=10, speakers=5)

    assert Clip.objects.filter(project_id=built.project_id).count() == 50
    assert Rating.objects.filter(clip__project_id=built.project_id).count() == 200
    states = set(Clip.objects.values_list("state", flat=True))
    assert {ClipState.RATED, ClipState.MACHINE_LABELLED, ClipState.AWAITING_HUMANS} <= states
    assert Label.objects.filter(source="machine", revoked_at__isnull=True).exists()
    assert RaterNoise.objects.exists()
    assert MachineLabelAudit.objects.exists()

    users = get_user_model().objects
    clients = {}
    for role, name in (("researcher", built.researcher), ("admin", built.admin)):
        clients[role] = Client()
        assert clients[role].login(username=name, password=built.password)
    wanted = calls(built)
    for call in wanted:
        response = clients[call.role].get(call.path)
        assert response.status_code == 200, (call.path, call.role, response.status_code)
        if call.kind == "export":
            body = b"".join(response.streaming_content)
            assert csv_rows(body) > 0, call.path
    dashboard = clients["researcher"].get(f"/api/v1/projects/{built.project_id}/dashboard/").json()
    assert dashboard["ratings"]["total"] == 200
    assert len(dashboard["learning_curve"]["points"]) >= 2

    counts = query_counts(built, wanted[:2])
    assert all(n > 0 for n in counts.values())
    assert users.filter(username=built.admin).exists()
