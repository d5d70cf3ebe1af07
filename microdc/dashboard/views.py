"""The dashboard's pages (every role may view them) and the JSON their charts load.

Each page renders what it shows from a handful of queries and subscribes, over the websocket, to the groups of
what it shows; page scripts live in static/microdc/ and read their start state from a json_script block.
"""

import functools
import time

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from microdc.alerts.conditions.gpu import BAD_THROTTLE
from microdc.alerts.models import Alert, Silence
from microdc.alerts.selectors import active_alarms, board, critical_banner
from microdc.core import policy
from microdc.core.models import AuditEvent
from microdc.energy import series
from microdc.nodes.models import FacilityMeter, Node, Rack, Site
from microdc.telemetry.models import Source

from . import energy, facility, power, provisioning
from .charts import ChartError, chart, labelled
from .selectors import (
    accelerator_extremes,
    load_site,
    node_view,
    nodes_with_telemetry,
    power_channel,
    rack_air,
    rack_meters,
    stale_cutoff,
)
from .summary import summarize
from .words import THROTTLE_WORDS

MEASURES = {
    "temperature": {"metric": "temperature_celsius", "label": "GPU temperature", "unit": "°C", "min": 20, "max": 90},
    "power": {"metric": "power_watts", "label": "GPU power", "unit": "W", "min": 0, "max": 700},
    "utilization": {"metric": "utilization_ratio", "label": "GPU utilization", "unit": "%", "min": 0, "max": 100},
}
KIOSK_PAGES = ("dashboard:overview", "dashboard:racks", "dashboard:facility")
AUDIT_ROWS = 8


def _site(request) -> Site | None:
    ref = request.GET.get("site", "")
    sites = Site.objects.order_by("name")
    if ref:
        site = sites.filter(**({"pk": int(ref)} if ref.isdigit() else {"slug": ref})).first()
        if site is None:
            raise Http404(f"No site {ref!r}.")
        return site
    return sites.first()


def _context(request, page: str, site: Site | None, groups: list[str], **extra) -> dict:
    kiosk = request.GET.get("kiosk") == "1"
    try:
        rotate = max(0, int(request.GET.get("rotate", "30")))
    except ValueError:
        rotate = 30
    live = {
        "page": page,
        "site": site.pk if site else None,
        "groups": groups,
        "staleSeconds": settings.MICRODC_TELEMETRY_STALE_SECONDS,
        "serverNow": int(time.time() * 1000),
        "kiosk": kiosk,
        "rotate": rotate if kiosk else 0,
    }
    live.update(extra.pop("live", {}))
    return {"page": page, "site": site, "sites": list(Site.objects.order_by("name").only("pk", "name", "slug")),
            "kiosk": kiosk, "live": live, "critical": critical_banner(site.pk if site else None), **extra}


@login_required
def overview(request):
    site = _site(request)
    if site is None:
        return render(request, "dashboard/empty.html", _context(request, "overview", None, []))
    state = load_site(site)
    summary = summarize(state)
    nodes = state.node_views("site")
    racks = [{"rack": rack, "nodes": [n for n in nodes if n["rack"] == rack.pk]} for rack in state.racks]
    # The audit trail is admin-only, as /api/v1/audit/ is; others get no panel (None), not an empty one.
    audit = (list(AuditEvent.objects.order_by("-timestamp", "-id")
                  .values("timestamp", "actor_name", "source", "action", "object_type", "object_repr")[:AUDIT_ROWS])
             if policy.allows(request.user, AuditEvent, "view") else None)
    return render(request, "dashboard/overview.html", _context(
        request, "overview", site, [f"site.{site.pk}"], summary=summary, racks=racks, audit=audit,
        live={"nodes": {str(n["id"]): n for n in nodes}, "summary": summary}))


def _rack_blocks(state) -> list[dict]:
    node_views = state.node_views("rack")
    meters = rack_meters(state.meter_views())
    blocks = []
    for rack in state.racks:
        nodes = [n for n in node_views if n["rack"] == rack.pk]
        for node in nodes:
            # CSS grid rows count from the top; U1 is the bottom unit.
            node["grid_row"] = rack.height_u - (node["position_u"] + node["height_u"] - 1) + 1
            node.update(accelerator_extremes(node))
        own_meters = meters.get(rack.pk, [])
        blocks.append({"rack": rack, "nodes": nodes, "units": range(rack.height_u, 0, -1),
                       "pdus": [m for m in own_meters if m["kind"] == FacilityMeter.Kind.PDU],
                       "air": rack_air(own_meters, nodes)})
    return blocks


def _racks_page(request, site: Site, racks: list[int] | None, single: Rack | None = None):
    measure = request.GET.get("measure", "temperature")
    if measure not in MEASURES:
        measure = "temperature"
    state = load_site(site, racks=racks)
    blocks = _rack_blocks(state)
    limits = power.rack_capacities(power.capacities(site), {m.pk: m.rack_id for m in state.meters})
    for block in blocks:
        block["limits"] = limits.get(block["rack"].pk, [])
    groups = [f"rack.{b['rack'].pk}" for b in blocks]
    nodes = {str(n["id"]): n for b in blocks for n in b["nodes"]}
    meters = {str(m["id"]): m for b in blocks for m in b["pdus"]}
    return render(request, "dashboard/racks.html", _context(
        request, "racks", site, groups, blocks=blocks, measure=measure, measures=MEASURES, single=single,
        live={"nodes": nodes, "meters": meters, "measure": measure, "measures": MEASURES}))


@login_required
def racks(request):
    site = _site(request)
    if site is None:
        return render(request, "dashboard/empty.html", _context(request, "racks", None, []))
    return _racks_page(request, site, None)


@login_required
def rack(request, pk: int):
    rack_obj = get_object_or_404(Rack.objects.select_related("site"), pk=pk)
    return _racks_page(request, rack_obj.site, [rack_obj.pk], single=rack_obj)


@login_required
def node(request, pk: int):
    nodes, sources = nodes_with_telemetry(Node.objects.filter(pk=pk).select_related("rack__site"))
    if not nodes:
        raise Http404("No such node.")
    node_obj = nodes[0]
    view = node_view(node_obj, node_obj.accelerators.all(), sources.get(pk, ()), stale_cutoff(), "full")
    deployments = provisioning.deployments_on(node_obj)
    deployment_model = provisioning.model("Deployment")
    held, per_token = energy.on_gpus(node_obj, list(deployment_model.objects.filter(
        pk__in=[d["id"] for d in deployments or ()])) if deployment_model else [])
    for accelerator in view["accelerators"]:
        accelerator["deployments"] = [{**d, "jpt": per_token[d["id"]]} for d in held.get(accelerator["id"], [])]
    for deployment in deployments or ():
        deployment["jpt"] = per_token.get(deployment["id"])
    limits = power.node_limits(node_obj)
    for accelerator in view["accelerators"]:
        accelerator["power_limit"] = limits["by_accelerator"].get(accelerator["id"])
    return render(request, "dashboard/node.html", _context(
        request, "node", node_obj.rack.site, [f"node.{pk}"], node=node_obj, view=view,
        limit_changes=limits["changes"],
        alarms=active_alarms(node_obj.rack.site_id, node=node_obj.hostname),
        deployments=deployments,
        live={"node": pk, "nodes": {str(pk): view}, "throttleWords": THROTTLE_WORDS,
              "badThrottle": sorted(BAD_THROTTLE)}))


def _deployment_or_404(pk: int):
    deployment_model = provisioning.model("Deployment")
    deployment = deployment_model.objects.filter(pk=pk).first() if deployment_model else None
    if deployment is None:
        raise Http404("No such deployment.")
    return deployment


@login_required
def deployment(request, pk: int):
    """One deployment's energy and carbon over 1 h / 24 h / 30 d, its charts, and the rules behind them."""
    deployment_obj = _deployment_or_404(pk)
    figures = energy.deployment_windows(deployment_obj)
    site = Site.objects.filter(racks__nodes__reservations__deployment=deployment_obj).distinct().first() \
        or _site(request)
    return render(request, "dashboard/deployment.html", _context(
        request, "deployment", site, [f"deployment.{pk}"], deployment=deployment_obj, energy=figures,
        sweeps=power.sweeps(deployment_obj),
        windows=energy.WINDOWS, window_words=energy.WINDOW_WORDS, figure_rows=energy.FIGURES,
        measures=series.MEASURES, notes=series.NOTES,
        live={"deployment": pk, "energy": figures, "windows": list(energy.WINDOWS),
              "kinds": {key: kind for key, _label, _path, kind in energy.FIGURES}}))


@login_required
def energy_page(request):
    """The pilot table: every deployment side by side over one window, with the CSV export of the same."""
    window = request.GET.get("window", "24h")
    if window not in energy.PILOT_WINDOWS:
        window = "24h"
    table = energy.pilot(window)
    columns = [(key, *energy.BY_KEY[key]) for key in energy.PILOT_COLUMNS]
    return render(request, "dashboard/energy.html", _context(
        request, "energy", _site(request), [], table=table, window=window, windows=energy.PILOT_WINDOWS,
        window_words=energy.WINDOW_WORDS, columns=columns))


@login_required
def facility_page(request):
    site = _site(request)
    if site is None:
        return render(request, "dashboard/empty.html", _context(request, "facility", None, []))
    state = load_site(site)
    meter_views = state.meter_views()
    health, health_problem = facility.meter_health(state.meters)
    for view in meter_views:
        view["health"] = (health or {}).get(view["id"])
    pue = facility.pue_windows(site, facility.WINDOWS)
    summary = summarize(state)
    return render(request, "dashboard/facility.html", _context(
        request, "facility", site, [f"site.{site.pk}"], meters=meter_views, pue=pue, summary=summary,
        capacities=power.capacities(site), timeline=power.timeline(site),
        health_problem=health_problem, explanation=facility.category_explanation(meter_views, pue.get("24h")),
        live={"summary": summary}))


@login_required
def jobs(request):
    return render(request, "dashboard/jobs.html", _context(request, "jobs", _site(request), [],
                                                           jobs=provisioning.jobs(),
                                                           deployments=provisioning.deployments()))


@login_required
def job(request, pk: int):
    installed = provisioning.model("Job") is not None
    detail = provisioning.job(pk)
    if installed and detail is None:
        raise Http404("No such job.")
    events = provisioning.new_job_events(pk) or []
    return render(request, "dashboard/job.html", _context(
        request, "job", _site(request), [f"job.{pk}"], job=detail, job_id=pk, events=events, installed=installed,
        live={"job": pk, "lastCounter": max((e["counter"] for e in events), default=0)}))


def _json_login_required(view):
    """Like login_required, but a script gets 401 JSON instead of a redirect to the login page."""
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Log in to read dashboard data."}, status=401)
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@_json_login_required
def job_events(request, pk: int):
    try:
        after = int(request.GET.get("after", "0"))
    except ValueError:
        return JsonResponse({"detail": "after must be an integer event counter"}, status=400)
    events = provisioning.new_job_events(pk, after=after)
    return JsonResponse({"job": pk, "events": events or [], "status": provisioning.job_status(pk) or "unknown"})


def _chart_response(key: str, window: str, build) -> JsonResponse:
    # Long windows change slowly and cost the most: share them between screens for a while.
    ttl = {"24h": 30, "30d": 300}.get(window, 0)
    data = cache.get(key) if ttl else None
    if data is None:
        try:
            data = build()
        except ChartError as exc:
            return JsonResponse({"detail": str(exc)}, status=400)
        if ttl:
            cache.set(key, data, ttl)
    return JsonResponse(data)


@require_GET
@_json_login_required
def chart_site_it(request, pk: int):
    """IT load of a site: the sum of its IT-load meters, and the accelerators' own power from the agents."""
    site = get_object_or_404(Site, pk=pk)
    window = request.GET.get("window", "1h")

    def build():
        accelerators = list(Source.objects.filter(accelerator__node__rack__site=site).values_list("pk", flat=True))
        series = [("Accelerators (agents)", accelerators)]
        it_sources = []
        meters = FacilityMeter.objects.filter(site=site, boundary=FacilityMeter.Boundary.IT_LOAD)
        channels = {}
        for source in Source.objects.filter(meter__in=meters).values("pk", "meter_id", "sensor"):
            channels.setdefault(source["meter_id"], {})[source["sensor"]] = source["pk"]
        for meter in meters:
            channel = power_channel(meter, channels.get(meter.pk, {}))
            if channel is not None:
                it_sources.append(channels[meter.pk][channel])
        if it_sources:
            series.insert(0, ("IT meters", it_sources))
        return chart("power_watts", window, series)

    return _chart_response(f"microdc:dashboard:chart:site-it:{pk}:{window}", window, build)


@require_GET
@_json_login_required
def chart_node(request, pk: int):
    """One line per accelerator of the node for a metric (power_watts, temperature_celsius, ...)."""
    node_obj = get_object_or_404(Node, pk=pk)
    metric = request.GET.get("metric", "power_watts")
    window = request.GET.get("window", "15m")
    sources = (Source.objects.filter(node=node_obj, accelerator__isnull=False).select_related("accelerator")
               .order_by("accelerator__index"))

    def build():
        items = [(f"{s.accelerator.kind.upper()} {s.accelerator.index}", s.pk) for s in sources]
        return chart(metric, window, labelled(items), reporter={"node_id": node_obj.pk})

    return _chart_response(f"microdc:dashboard:chart:node:{pk}:{metric}:{window}", window, build)


@require_GET
@_json_login_required
def chart_deployment(request, pk: int):
    """One measure of a deployment (J/token, tokens/s, GPU power ...) per ledger bucket."""
    _deployment_or_404(pk)
    measure = request.GET.get("measure", "joules_per_token")
    window = request.GET.get("window", "1h")

    def build():
        try:
            return series.chart(pk, measure, window)
        except series.SeriesError as exc:
            raise ChartError(str(exc)) from exc

    return _chart_response(f"microdc:dashboard:chart:deployment:{pk}:{measure}:{window}", window, build)


@require_GET
@_json_login_required
def chart_meter(request, pk: int):
    """The meter's power (its boundary channel), or another quantity of that channel."""
    meter = get_object_or_404(FacilityMeter, pk=pk)
    metric = request.GET.get("metric", "power_watts")
    window = request.GET.get("window", "1h")

    def build():
        channels = dict(Source.objects.filter(meter=meter).values_list("sensor", "pk"))
        channel = power_channel(meter, channels)
        items = [(channel or "total", channels[channel])] if channel is not None else []
        return chart(metric, window, labelled(items), reporter={"meter_id": meter.pk})

    return _chart_response(f"microdc:dashboard:chart:meter:{pk}:{metric}:{window}", window, build)


@login_required
def alerts_page(request):
    """Alerts as stored: open ones first by severity, since when, acknowledged by whom; the last day's resolved."""
    site = _site(request)
    alerts = board(site.pk if site else None)
    groups = [f"alerts.{site.pk}"] if site else []
    return render(request, "dashboard/alerts.html", _context(
        request, "alerts", site, groups, board=alerts,
        may_ack=policy.allows(request.user, Alert, "view"), may_silence=policy.allows(request.user, Silence, "add"),
        live={"board": alerts, "mayAck": True, "maySilence": policy.allows(request.user, Silence, "add")}))
