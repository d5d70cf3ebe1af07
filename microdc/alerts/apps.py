from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "microdc.alerts"
    label = "alerts"
    verbose_name = "Alerts and notifications"
