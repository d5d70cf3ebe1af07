from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "microdc.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"
