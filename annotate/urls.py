from django.contrib.auth import views as auth_views
from django.urls import path

from annotate import views
from annotate.auth import LockoutAuthenticationForm
from annotate.pages import audits as audit_pages
from annotate.pages import clips as clip_pages
from annotate.pages import operations as operation_pages
from annotate.pages import raters as rater_pages

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=LockoutAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("rate/<int:project_id>/", views.rate, name="rate"),
    path("projects/<int:project_id>/", views.dashboard, name="dashboard"),
    path(
        "projects/<int:project_id>/raters/",
        rater_pages.project_raters_page,
        name="project-raters-page",
    ),
    path(
        "projects/<int:project_id>/clips/",
        clip_pages.project_clips_page,
        name="project-clips-page",
    ),
    path("projects/<int:project_id>/clips/<int:clip_id>/", clip_pages.clip_page, name="clip-page"),
    path(
        "projects/<int:project_id>/audits/",
        audit_pages.project_audits_page,
        name="project-audits-page",
    ),
    path(
        "projects/<int:project_id>/operations/",
        operation_pages.project_operations_page,
        name="project-operations-page",
    ),
]
