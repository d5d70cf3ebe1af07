"""One round of the power policies over every site (the worker's "power policies" job)."""

import datetime

from django.utils import timezone

from microdc.nodes.models import Site

from .capacity import SitePower, site_capacities
from .models import PolicyEvent
from .policies import battery, budget, cooling


def enforce(now: datetime.datetime | None = None) -> list[PolicyEvent]:
    now = now or timezone.now()
    events: list[PolicyEvent] = []
    for site in Site.objects.all():
        power = SitePower(site, now)
        # Battery and cooling first: their caps are emergencies; the budget then sees what they left.
        events += battery.run(site.pk, power, now)
        events += cooling.run(site.pk, power, now)
        events += budget.run(site_capacities(site, now, readings=power), now)
    return events
