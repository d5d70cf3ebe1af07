"""A site at a glance: node counts, power now, PUE, meters and firing alerts, for the overview and facility pages.

Built from the database (so it also shows what other processes wrote, e.g. meter readings stored by the
worker), on page load and every few seconds for each site someone watches (see watches.py).
"""

from django.core.cache import cache
from django.utils import timezone

from microdc.alerts.selectors import active_alarms, critical_banner
from microdc.nodes.models import Site

from . import facility
from .selectors import SiteState, iso, load_site, node_counts, site_power

CACHE_SECONDS = 4
WORST = {"ok": 0, "warning": 1, "critical": 2}


def meter_brief(view: dict) -> dict:
    """The part of a meter a live screen updates: its power, freshness and worst reading state."""
    states = [c["state"] for c in view["channels"].values() if not c["stale"]]
    channel = view["channels"].get(view["power_channel"]) if view["power_channel"] is not None else None
    return {"id": view["id"], "ts": view["ts"], "stale": view["stale"], "power_watts": view["power_watts"],
            "power_channel": view["power_channel"],
            "energy_joules": channel["values"].get("energy_joules") if channel else None,
            "state": max(states, key=lambda s: WORST.get(s, 0)) if states else "unknown"}


def summarize(state: SiteState, windows: tuple[str, ...] = ("5m", "24h")) -> dict:
    node_views = state.node_views("full")
    meter_views = state.meter_views()
    health, health_problem = facility.meter_health(state.meters)
    return {
        "site": state.site.pk,
        "ts": iso(timezone.now()),
        "nodes": node_counts(node_views),
        "power": site_power(meter_views, node_views),
        "pue": facility.pue_windows(state.site, windows),
        "meters": {str(v["id"]): meter_brief(v) for v in meter_views},
        "health": {str(k): v for k, v in (health or {}).items()},
        "health_problem": health_problem,
        # The stored alerts (microdc.alerts): the same ones the alerts page, /api/v1/alerts/ and receivers see.
        "alarms": active_alarms(state.site.pk),
        "critical": critical_banner(state.site.pk),
    }


def site_summary(site_id: int, fresh: bool = False) -> dict | None:
    """The summary of site `site_id` (None when it does not exist), shared for a few seconds between screens;
    `fresh` recomputes it (something changed) and shares the new one."""
    key = f"microdc:dashboard:summary:{site_id}"
    summary = None if fresh else cache.get(key)
    if summary is None:
        site = Site.objects.filter(pk=site_id).first()
        if site is None:
            return None
        summary = summarize(load_site(site))
        cache.set(key, summary, CACHE_SECONDS)
    return summary
