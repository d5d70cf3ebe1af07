from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from microdc.api.metrics import metrics
from microdc.core.health import healthz
from microdc.core.login import AdminLoginForm, LoginView, admin_login

admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/", include("microdc.api.urls")),
    path("admin/login/", admin_login),  # ahead of the admin's own route: adds the throttle's 429 and Retry-After
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("microdc.dashboard.urls")),
]
