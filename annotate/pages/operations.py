"""The operations page: an admin retrains, cancels, tunes, pauses and revokes."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as HttpForbidden
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotate.access import project_get_for_admin, signed_in, user_role
from annotate.errors import NotFound, PermissionDenied
from annotate.models import Project
from annotate.services.project_settings import SETTINGS


@login_required
@ensure_csrf_cookie
def project_operations_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Admins only: researchers and raters of the project get a 403 page, others 404."""
    try:
        project = project_get_for_admin(user=signed_in(request), project_id=project_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except PermissionDenied as exc:
        raise HttpForbidden(exc.message) from None
    settings = [
        {
            "name": name,
            "label": name.replace("_", " ").capitalize(),
            "kind": rule.kind.__name__,
            "min": rule.low,
            "max": rule.high,
            "help": getattr(Project._meta.get_field(name), "help_text", ""),
        }
        for name, rule in SETTINGS.items()
    ]
    return render(
        request,
        "annotate/operations.html",
        {
            "project": project,
            "role": user_role(signed_in(request)),
            "nav": "operations",
            "settings": settings,
        },
    )
