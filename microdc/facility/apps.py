from django.apps import AppConfig


class FacilityConfig(AppConfig):
    name = "microdc.facility"
    label = "facility"
    verbose_name = "Facility meters and PUE"
