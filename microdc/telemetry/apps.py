from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "microdc.telemetry"
    label = "telemetry"
    verbose_name = "Telemetry"
