from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "microdc.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
