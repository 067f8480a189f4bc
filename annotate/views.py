"""HTML pages. They only render shells; the pages talk to the REST API."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotate.access import project_get_for_member, projects_visible_to, user_role
from annotate.models import Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = list(projects_visible_to(request.user).order_by("name"))
    role = user_role(request.user)
    if role == Role.RATER and len(projects) == 1:
        return redirect("rate", project_id=projects[0].pk)
    return render(request, "annotate/home.html", {"projects": projects, "role": role})


@login_required
@ensure_csrf_cookie
def rate(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_member(user=request.user, project_id=project_id)
    return render(request, "annotate/rate.html", {"project": project})


@login_required
@ensure_csrf_cookie
def dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_member(user=request.user, project_id=project_id)
    return render(
        request, "annotate/dashboard.html", {"project": project, "role": user_role(request.user)}
    )
