from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AlertsConfig(AppConfig):
    name = "microdc.alerts"
    label = "alerts"
    verbose_name = "Alerts and notifications"

    def ready(self):
        from .catalog import install_builtin_rules

        # As contenttypes and permissions are made: the built-in rules exist once the tables do.
        post_migrate.connect(install_builtin_rules, sender=self, dispatch_uid="alerts.install_builtin_rules")
