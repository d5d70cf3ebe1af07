from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "microdc.simulator"
    label = "simulator"
    verbose_name = "Simulated hardware (demo and tests)"
