from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "microdc.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"

    def ready(self):
        # Telemetry and facility writers announce committed changes through telemetry.live; the dashboard
        # listens there (telemetry imports nothing from the dashboard).
        from microdc.telemetry import live

        from .publisher import on_change

        live.add_listener(on_change)
