from django.contrib import admin

from microdc.core.admin import AuditedModelAdmin
from microdc.nodes.models import FacilityMeter


@admin.register(FacilityMeter)
class FacilityMeterAdmin(AuditedModelAdmin):
    list_display = ["name", "site", "kind", "boundary", "protocol", "host", "enabled", "simulated"]
    list_filter = ["site", "kind", "boundary", "protocol", "enabled", "simulated"]
    search_fields = ["name", "host"]
    # The secret is never shown back, even to admins; set it through the API.
    exclude = ["secret"]
