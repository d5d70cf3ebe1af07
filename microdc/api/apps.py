from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "microdc.api"
    label = "api"
    verbose_name = "REST API"
