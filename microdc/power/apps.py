from django.apps import AppConfig


class PowerConfig(AppConfig):
    name = "microdc.power"
    label = "power"
    verbose_name = "Power limits"
