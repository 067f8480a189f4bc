"""The raters page: who rates how well, their flags, and blocking for admins."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from annotate.access import signed_in, user_role
from annotate.selectors_raters import (
    CONSTANT_SHARE,
    HIGH_NOISE_RATIO,
    MIN_FLAG_RATINGS,
    TOO_FAST_SHARE,
)
from annotate.views import _page_project


@login_required
@ensure_csrf_cookie
def project_raters_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Researchers and admins; only admins see the block buttons."""
    project = _page_project(request, project_id, staff=True)
    return render(
        request,
        "annotate/raters.html",
        {
            "project": project,
            "role": user_role(signed_in(request)),
            "nav": "raters",
            "rules": {
                "min_ratings": MIN_FLAG_RATINGS,
                "too_fast_pct": round(TOO_FAST_SHARE * 100),
                "constant_pct": round(CONSTANT_SHARE * 100),
                "high_noise_ratio": HIGH_NOISE_RATIO,
            },
        },
    )
