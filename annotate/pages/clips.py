"""The clips page (filterable list and machine-label audits) and the clip inspector."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotate.access import clip_get_for_staff, signed_in, user_role
from annotate.errors import NotFound, PermissionDenied
from annotate.models import ClipState
from annotate.selectors import STATE_KEYS
from annotate.views import _page_project


@login_required
@ensure_csrf_cookie
def project_clips_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _page_project(request, project_id, staff=True)
    return render(
        request,
        "annotate/clips.html",
        {
            "project": project,
            "role": user_role(signed_in(request)),
            "nav": "clips",
            "states": STATE_KEYS,
            "targets": list(project.targets.values_list("name", flat=True)),
        },
    )


@login_required
def clip_page(request: HttpRequest, project_id: int, clip_id: int) -> HttpResponse:
    """One clip of the project; a clip of another project is a 404 like a missing one."""
    project = _page_project(request, project_id, staff=True)
    try:
        clip = clip_get_for_staff(user=signed_in(request), clip_id=clip_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except PermissionDenied as exc:
        raise HttpForbidden(exc.message) from None
    if clip.project_id != project.pk:
        raise Http404("this clip does not exist or is not yours")
    return render(
        request,
        "annotate/clip.html",
        {
            "project": project,
            "clip": clip,
            "role": user_role(signed_in(request)),
            "nav": "clips",
            "machine_labelled": ClipState.MACHINE_LABELLED,
        },
    )
