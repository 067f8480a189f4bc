"""HTML pages. They only render shells; the pages talk to the REST API.

Like the API, each page resolves its project through annotate.access first; its
NotFound and PermissionDenied become Django's 404 and 403 pages.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotate.access import (
    project_get_for_member,
    project_get_for_staff,
    projects_visible_to,
    signed_in,
    user_role,
)
from annotate.errors import NotFound, PermissionDenied
from annotate.models import Project, Role


def _page_project(request: HttpRequest, project_id: int, *, staff: bool = False) -> Project:
    get = project_get_for_staff if staff else project_get_for_member
    try:
        return get(user=signed_in(request), project_id=project_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except PermissionDenied as exc:
        raise HttpForbidden(exc.message) from None


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = list(projects_visible_to(signed_in(request)).order_by("name"))
    role = user_role(signed_in(request))
    if role == Role.RATER and len(projects) == 1:
        return redirect("rate", project_id=projects[0].pk)
    return render(request, "annotate/home.html", {"projects": projects, "role": role})


@login_required
@ensure_csrf_cookie
def rate(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _page_project(request, project_id)
    return render(request, "annotate/rate.html", {"project": project})


@login_required
@ensure_csrf_cookie
def dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    """Researchers and admins only: every panel of the page reads a staff endpoint."""
    project = _page_project(request, project_id, staff=True)
    return render(
        request,
        "annotate/dashboard.html",
        {"project": project, "role": user_role(signed_in(request))},
    )
