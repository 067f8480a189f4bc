"""The machine-label audit page: send a random sample of machine-labelled clips back to
humans, and read per model version how wrong its machine labels really are next to what
it claimed (the data comes from GET /api/v1/projects/{id}/audits/)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotate.access import signed_in, user_role
from annotate.models import Clip
from annotate.selectors import clip_state_counts, project_model_versions
from annotate.services.audits import MAX_AUDIT, audit_raters_wanted
from annotate.views import _page_project


@login_required
@ensure_csrf_cookie
def project_audits_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Researchers and admins; a rater gets the 403 page, a non-member the 404 page."""
    project = _page_project(request, project_id, staff=True)
    states = clip_state_counts(Clip.objects.filter(project=project))
    return render(
        request,
        "annotate/audits.html",
        {
            "project": project,
            "role": user_role(signed_in(request)),
            "nav": "audits",
            "versions": list(
                project_model_versions(project=project).values_list("name", flat=True)
            ),
            "machine_labelled": states["machine_labelled"],
            "max_audit": MAX_AUDIT,
            "raters_wanted": audit_raters_wanted(project),
            "targets": list(project.targets.values_list("name", flat=True)),
        },
    )
