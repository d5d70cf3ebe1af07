from django.contrib import admin

from microdc.core.admin import AuditedModelAdmin, PolicyInline

from .models import Accelerator, Node, Rack, Site


@admin.register(Site)
class SiteAdmin(AuditedModelAdmin):
    list_display = ["name", "slug", "simulated"]
    search_fields = ["name", "slug"]


@admin.register(Rack)
class RackAdmin(AuditedModelAdmin):
    list_display = ["name", "site", "row", "position", "height_u", "simulated"]
    list_filter = ["site", "simulated"]
    search_fields = ["name"]


class AcceleratorInline(PolicyInline):
    model = Accelerator
    extra = 0


@admin.register(Node)
class NodeAdmin(AuditedModelAdmin):
    list_display = ["hostname", "rack", "position_u", "height_u", "status", "power_meter", "embodied_kgco2e",
                    "simulated"]
    list_filter = ["status", "rack__site", "simulated"]
    search_fields = ["hostname", "management_address"]
    inlines = [AcceleratorInline]


@admin.register(Accelerator)
class AcceleratorAdmin(AuditedModelAdmin):
    list_display = ["__str__", "kind", "vendor", "model", "uuid", "embodied_kgco2e", "simulated"]
    list_filter = ["kind", "vendor", "simulated"]
    search_fields = ["uuid", "serial", "model", "node__hostname"]
