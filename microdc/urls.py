from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from microdc.api.metrics import metrics
from microdc.core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/", include("microdc.api.urls")),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("microdc.dashboard.urls")),
]
