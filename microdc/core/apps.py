from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "microdc.core"
    label = "core"
    verbose_name = "Accounts and audit"
