from django.urls import path

from . import views

routes = []
urlpatterns = [
    path("telemetry/", views.TelemetryPushView.as_view(), name="telemetry-push"),
    path("telemetry/history/", views.HistoryView.as_view(), name="telemetry-history"),
    path("telemetry/latest/", views.LatestView.as_view(), name="telemetry-latest"),
    path("telemetry/rollup-status/", views.RollupStatusView.as_view(), name="telemetry-rollup-status"),
]
