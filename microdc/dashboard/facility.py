"""PUE and meter health as the dashboard shows them, from the facility app's services.

``microdc.facility.pue`` (``site_pue``) and ``microdc.facility.health`` (``meter_status``) belong to the facility
app and are imported when first needed. When a module is missing or a call fails, the dashboard shows that state
and its reason ("PUE service unavailable: ..."); it never computes a PUE of its own.
"""

import datetime
import importlib
import logging
from types import ModuleType

from django.core.cache import cache

from microdc.nodes.models import FacilityMeter, Site

from .selectors import iso

log = logging.getLogger(__name__)

WINDOWS = ("5m", "1h", "24h", "30d")
# How long a window's result may be reused: a 30-day PUE barely moves in five minutes.
CACHE_SECONDS = {"5m": 5, "1h": 30, "24h": 60, "30d": 300, "day": 60, "month": 300}
ENERGY_KINDS = ("facility", "it", "cooling", "other")
CATEGORY_OF_POINT = {
    FacilityMeter.ItMeasurementPoint.UPS_OUTPUT: 1,
    FacilityMeter.ItMeasurementPoint.PDU_OUTPUT: 2,
    FacilityMeter.ItMeasurementPoint.IT_INPUT: 3,
}
POINT_WORDS = {
    FacilityMeter.ItMeasurementPoint.UPS_OUTPUT: "at the UPS output",
    FacilityMeter.ItMeasurementPoint.PDU_OUTPUT: "at the PDU outputs",
    FacilityMeter.ItMeasurementPoint.IT_INPUT: "at the IT equipment input",
}


def _service(name: str) -> tuple[ModuleType | None, str]:
    try:
        return importlib.import_module(name), ""
    except ImportError as exc:
        return None, str(exc)


def _kwh(joules: float | None) -> float | None:
    return None if joules is None else joules / 3.6e6


def pue_view(result) -> dict:
    """A PueResult as JSON-ready numbers; averages are energy over the window, not instant readings."""
    start, end = getattr(result, "start", None), getattr(result, "end", None)
    seconds = (end - start).total_seconds() if isinstance(start, datetime.datetime) and end else None
    view = {
        "available": True,
        "window": result.window,
        "start": iso(start),
        "end": iso(end),
        "pue": result.pue,
        "complete": bool(result.complete),
        "reason": result.reason or "",
        "category": result.category,
        "it_source": getattr(result, "it_source", ""),
        "partial_pue_cooling": getattr(result, "partial_pue_cooling", None),
        "cue_kg_per_kwh": getattr(result, "cue_kg_per_kwh", None),
        "carbon_intensity_g_per_kwh": getattr(result, "carbon_intensity_g_per_kwh", None),
        "wue_l_per_kwh": getattr(result, "wue_l_per_kwh", None),
        "energy_kwh": {},
        "average_watts": {},
    }
    for kind in ENERGY_KINDS:
        joules = getattr(result, f"{kind}_energy_joules", None)
        view["energy_kwh"][kind] = _kwh(joules)
        view["average_watts"][kind] = joules / seconds if joules is not None and seconds else None
    return view


def site_pue(site: Site, window: str) -> dict:
    """The site's PUE over `window` from the facility service, cached briefly (several screens share it)."""
    key = f"microdc:dashboard:pue:{site.pk}:{window}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    module, problem = _service("microdc.facility.pue")
    if module is None:
        view = {"available": False, "window": window, "reason": f"PUE service unavailable ({problem})"}
    else:
        try:
            view = pue_view(module.site_pue(site, window))
        except Exception as exc:
            log.exception("PUE of site %s over %s failed", site.pk, window)
            view = {"available": False, "window": window, "reason": f"PUE service failed: {exc}"}
    cache.set(key, view, CACHE_SECONDS.get(window, 5))
    return view


def pue_windows(site: Site, windows: tuple[str, ...] = ("5m", "24h")) -> dict[str, dict]:
    return {window: site_pue(site, window) for window in windows}


def meter_health(meters: list[FacilityMeter]) -> tuple[dict[int, dict] | None, str]:
    """Each meter's health from the facility app: ({meter id: status}, "") or (None, why unavailable)."""
    module, problem = _service("microdc.facility.health")
    if module is None:
        return None, f"meter health service unavailable ({problem})"
    health = {}
    for meter in meters:
        try:
            status = module.meter_status(meter)
        except Exception as exc:
            log.exception("health of meter %s failed", meter.pk)
            health[meter.pk] = {"healthy": False, "stale": True, "last_success": None,
                                "last_error": f"health check failed: {exc}"}
            continue
        health[meter.pk] = {"healthy": bool(status.get("healthy")), "stale": bool(status.get("stale")),
                            "last_success": iso(status.get("last_success")),
                            "last_error": status.get("last_error") or ""}
    return health, ""


def category_explanation(meter_views: list[dict], pue: dict | None) -> list[str]:
    """Why the site's PUE has its category, in sentences, from where its IT-load meters measure."""
    it_meters = [m for m in meter_views if m["boundary"] == FacilityMeter.Boundary.IT_LOAD]
    lines = []
    if not it_meters:
        lines.append("No IT-load meter is configured, so IT energy comes from the node agents' own power "
                     "readings (node telemetry).")
    by_point: dict[str, list[str]] = {}
    for meter in it_meters:
        by_point.setdefault(meter["it_measurement_point"], []).append(meter["name"])
    for point, names in sorted(by_point.items(), key=lambda item: CATEGORY_OF_POINT.get(item[0], 9)):
        category = CATEGORY_OF_POINT.get(point)
        lines.append(f"IT energy is metered {POINT_WORDS.get(point, 'at an unknown point')} by "
                     f"{', '.join(names)}: category {category} (ISO/IEC 30134-2).")
    if len(by_point) > 1:
        lines.append("The IT meters measure at different points; the PUE service decides which category applies.")
    facility = [m["name"] for m in meter_views if m["boundary"] == FacilityMeter.Boundary.FACILITY_INPUT]
    lines.append(f"Total facility energy: {', '.join(facility)}." if facility
                 else "No facility-input meter is configured: the PUE cannot be complete.")
    if pue and pue.get("available") and pue.get("category"):
        lines.append(f"The PUE service reports category {pue['category']} for the site.")
    return lines
