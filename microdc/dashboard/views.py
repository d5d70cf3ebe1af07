from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.shortcuts import render

from microdc.nodes.models import FacilityMeter, Node, Rack, Site


@login_required
def overview(request):
    racks = Rack.objects.select_related("site").prefetch_related(
        Prefetch("nodes", queryset=Node.objects.annotate(accelerator_count=Count("accelerators")))
    )
    context = {
        "sites": Site.objects.all(),
        "racks": racks,
        "node_counts": {row["status"]: row["n"] for row in Node.objects.values("status").annotate(n=Count("id"))},
        "meters": FacilityMeter.objects.select_related("site"),
        "kiosk": request.GET.get("kiosk") == "1",
    }
    return render(request, "dashboard/overview.html", context)
