from django.apps import AppConfig


class NodesConfig(AppConfig):
    name = "microdc.nodes"
    label = "nodes"
    verbose_name = "Site inventory"
