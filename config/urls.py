from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from annotate.api.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(("annotate.api.urls", "api"), namespace="api")),
    path("", include("annotate.urls")),
]

# Pages get styled error pages; requests under /api/ get `{"detail", "code"}` JSON.
handler400 = "annotate.pages.errors.bad_request"
handler403 = "annotate.pages.errors.permission_denied"
handler404 = "annotate.pages.errors.page_not_found"
handler500 = "annotate.pages.errors.server_error"
