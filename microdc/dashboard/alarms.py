"""Active alarms: conditions worth a facilities person's attention, derived from the current state.

Nothing here is stored: an alarm is active while its condition holds (a silent agent, a hot or throttling GPU,
uncorrectable memory errors, a meter reporting a warning or critical state, a leak, a UPS on battery, a meter
that cannot be read). Critical first, then warnings.
"""

from django.urls import reverse

from microdc.nodes.models import Node

from .words import throttle_words, when

GPU_HOT_CELSIUS = 85.0
# Throttle reasons that mean trouble (power caps and idle clocks are normal operation).
BAD_THROTTLE = {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
SEVERITY_ORDER = {"critical": 0, "warning": 1}


def _alarm(severity: str, subject: str, text: str, link: str = "", since: str | None = None) -> dict:
    return {"severity": severity, "subject": subject, "text": text, "link": link, "since": since}


def node_alarms(views: list[dict]) -> list[dict]:
    alarms = []
    for node in views:
        link = reverse("dashboard:node", args=[node["id"]])
        if node["status"] == Node.Status.ACTIVE and not node["up"]:
            text = f"agent silent since {when(node['last_seen'])}" if node["last_seen"] else "agent has never reported"
            alarms.append(_alarm("critical" if node["last_seen"] else "warning", node["hostname"], text, link,
                                 node["last_seen"]))
        if node.get("last_error"):
            alarms.append(_alarm("warning", node["hostname"], f"last batch refused: {node['last_error'][:160]}", link))
        for accelerator in node.get("accelerators", ()):
            if accelerator["stale"]:
                continue
            subject = f"{node['hostname']} {accelerator['kind'].upper()} {accelerator['index']}"
            values = accelerator["values"]
            temperature = values.get("temperature_celsius")
            if temperature is not None and temperature >= GPU_HOT_CELSIUS:
                alarms.append(_alarm("warning", subject, f"{temperature:.0f} °C (alarm at {GPU_HOT_CELSIUS:.0f} °C)",
                                     link))
            bad = sorted(BAD_THROTTLE.intersection(accelerator["throttle_reasons"]))
            if bad:
                alarms.append(_alarm("warning", subject, "throttled: " + ", ".join(throttle_words(bad)), link))
            if values.get("ecc_uncorrected_errors_total", 0) > 0:
                alarms.append(_alarm("critical", subject,
                                     f"{values['ecc_uncorrected_errors_total']:.0f} uncorrectable memory errors", link))
    return alarms


def meter_alarms(views: list[dict], health: dict[int, dict] | None) -> list[dict]:
    alarms = []
    link = reverse("dashboard:facility")
    for meter in views:
        if not meter["enabled"]:
            continue
        status = (health or {}).get(meter["id"])
        if status is not None and not status["healthy"]:
            why = status["last_error"] or ("no reading for too long" if status["stale"] else "unhealthy")
            alarms.append(_alarm("warning", meter["name"], f"cannot be read: {why}", link, status["last_success"]))
        for channel, reading in meter["channels"].items():
            where = f"{meter['name']} {channel}".strip()
            values = reading["values"]
            if values.get("leak_detected", 0) > 0:
                alarms.append(_alarm("critical", where, "leak detected", link, reading["ts"]))
            if values.get("on_battery", 0) > 0:
                alarms.append(_alarm("critical", where, "UPS on battery", link, reading["ts"]))
            if reading["state"] in SEVERITY_ORDER and not reading["stale"]:
                alarms.append(_alarm(reading["state"], where, f"reports {reading['state']}", link, reading["ts"]))
    return alarms


def site_alarms(node_views: list[dict], meter_views: list[dict], health: dict[int, dict] | None) -> list[dict]:
    alarms = node_alarms(node_views) + meter_alarms(meter_views, health)
    return sorted(alarms, key=lambda a: (SEVERITY_ORDER.get(a["severity"], 9), a["subject"]))
