from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "microdc.worker"
    label = "worker"
    verbose_name = "Background work"
