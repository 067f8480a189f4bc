from django.contrib.auth import views as auth_views
from django.urls import path

from annotate import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("rate/<int:project_id>/", views.rate, name="rate"),
    path("projects/<int:project_id>/", views.dashboard, name="dashboard"),
]
