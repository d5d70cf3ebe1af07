from django.apps import AppConfig


class EnergyConfig(AppConfig):
    name = "microdc.energy"
    label = "energy"
    verbose_name = "Energy and carbon per deployment"
