"""Energy and carbon per deployment as the dashboard shows them, from ``microdc.energy.report`` (its JSON).

The report is imported when first needed, as the PUE service is (facility.py): when it is missing or fails, the
pages say so with the reason and show no figure. Each figure comes with the words for why it is unknown when it
is, so a page shows an em dash and that reason, never a zero.
"""

import datetime
import importlib
import logging

from django.core.cache import cache
from django.utils import timezone

from microdc.energy.models import Reservation

from .words import rule_words

log = logging.getLogger(__name__)

WINDOWS = ("1h", "24h", "30d")
PILOT_WINDOWS = ("1h", "24h", "30d", "day", "month")
WINDOW_WORDS = {"1h": "last hour", "24h": "last 24 h", "30d": "last 30 days", "day": "today", "month": "this month"}
CACHE_SECONDS = {"1h": 10, "24h": 30, "30d": 120, "day": 30, "month": 120}

# (key, label, path into the report's JSON, kind for figures.figure_text)
FIGURES = [
    ("requests", "Requests served", ("requests",), "count"),
    ("failed_requests", "Failed requests", ("failed_requests",), "count"),
    ("tokens", "Tokens (prompt + generated)", ("tokens",), "count"),
    ("energy_gpu", "Energy at the GPUs", ("energy_joules", "gpu"), "joules"),
    ("energy_node", "Energy at the node", ("energy_joules", "node"), "joules"),
    ("energy_facility", "Energy at the facility", ("energy_joules", "facility"), "joules"),
    ("pue", "PUE of the window", ("pue",), "ratio"),
    ("idle_share", "Idle share of GPU energy", ("idle_share",), "share"),
    ("jpr_gpu", "J per request, GPU", ("joules_per_request", "gpu"), "joules"),
    ("jpr_facility", "J per request, facility", ("joules_per_request", "facility"), "joules"),
    ("jpt_gpu", "J per token, GPU", ("joules_per_token", "gpu"), "joules"),
    ("jpt_node", "J per token, node", ("joules_per_token", "node"), "joules"),
    ("jpt_facility", "J per token, facility", ("joules_per_token", "facility"), "joules"),
    ("jpgt_facility", "J per generated token, facility", ("joules_per_generated_token", "facility"), "joules"),
    ("wh1k_facility", "Wh per 1,000 tokens, facility", ("wh_per_1k_tokens", "facility"), "wh"),
    ("gpr_total", "gCO₂e per request (SCI)", ("grams_per_request", "total"), "grams"),
    ("g1k_operational", "gCO₂e per 1,000 tokens, operational", ("grams_per_1k_tokens", "operational"), "grams"),
    ("g1k_embodied", "gCO₂e per 1,000 tokens, embodied", ("grams_per_1k_tokens", "embodied"), "grams"),
    ("g1k_total", "gCO₂e per 1,000 tokens (SCI)", ("grams_per_1k_tokens", "total"), "grams"),
    ("latency_p50", "Request latency p50", ("latency_seconds", "p50"), "seconds"),
    ("latency_p95", "Request latency p95", ("latency_seconds", "p95"), "seconds"),
    ("latency_mean", "Request latency mean", ("latency_seconds", "mean"), "seconds"),
    ("ttft_p50", "Time to first token p50", ("ttft_seconds", "p50"), "seconds"),
    ("ttft_p95", "Time to first token p95", ("ttft_seconds", "p95"), "seconds"),
]
# The pilot table: one figure per column, at the facility (the whole site's share) and SCI for carbon.
PILOT_COLUMNS = ["jpr_facility", "jpt_facility", "wh1k_facility", "gpr_total", "g1k_total", "idle_share"]
BY_KEY = {key: (label, path, kind) for key, label, path, kind in FIGURES}
PER_REQUEST = {"joules_per_request", "grams_per_request"}
PER_TOKEN = {"joules_per_token", "wh_per_1k_tokens", "grams_per_1k_tokens"}
CARBON = {"carbon_grams", "grams_per_request", "grams_per_1k_tokens"}


class ReportUnavailable(RuntimeError):
    pass


def _report():
    try:
        return importlib.import_module("microdc.energy.report")
    except ImportError as exc:
        raise ReportUnavailable(f"energy report unavailable ({exc})") from exc


def _at(result: dict, path: tuple[str, ...]):
    value = result
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _count_missing(result: dict, name: str, what: str) -> str | None:
    value = result.get(name)
    if value is None:
        return f"{result['deployment']['runtime'] or 'the runtime'} reports no {what} count"
    if value == 0:
        return f"no {what}s in this window"
    return None


def why_unknown(result: dict, path: tuple[str, ...]) -> str:
    """Why the figure at `path` is null, in words, from what else the result says."""
    head, level = path[0], (path[1] if len(path) > 1 else "")
    if head in ("requests", "failed_requests"):
        return _count_missing(result, "requests", "request") or "not counted in this window"
    if head == "tokens":
        return _count_missing(result, "tokens", "token") or "not counted in this window"
    if head in PER_REQUEST and (reason := _count_missing(result, "requests", "request")):
        return reason
    if head in PER_TOKEN and (reason := _count_missing(result, "tokens", "token")):
        return reason
    if head == "joules_per_generated_token" and (reason := _count_missing(result, "generation_tokens", "token")):
        return reason
    if head in ("latency_seconds", "ttft_seconds"):
        if reason := _count_missing(result, "requests", "request"):
            return reason
        what = "time-to-first-token" if head == "ttft_seconds" else "latency"
        return f"{result['deployment']['runtime'] or 'the runtime'} reports no {what} " \
               f"{'histogram' if level != 'mean' else 'sum and count'}"
    if head == "idle_share" and not _at(result, ("energy_joules", "gpu")):
        return "no GPU energy in this window"
    if (level == "facility" or head == "pue") and result.get("pue") is None:
        return "no complete PUE for this window"
    if head in CARBON and level == "embodied":
        return "no embodied carbon in the inventory for this hardware"
    if head in CARBON and _at(result, ("carbon_grams", "operational")) is None:
        return "no carbon intensity (or PUE) for this window"
    return "not known for this window (see the reasons)"


def result_view(result: dict) -> dict:
    """The report's JSON with every figure as {"value", "reason"} and the rules in words."""
    figures = {}
    for key, _label, path, _kind in FIGURES:
        value = _at(result, path)
        figures[key] = {"value": value, "reason": "" if value is not None else why_unknown(result, path)}
    return {"window": result.get("window"), "start": result.get("start"), "end": result.get("end"),
            "deployment": result["deployment"], "model": result.get("model") or "",
            "nodes": result.get("nodes") or [], "accelerators": result.get("accelerators") or [],
            "simulated": bool(result.get("simulated")), "complete": bool(result.get("complete")),
            "reasons": list(result.get("reasons") or []),
            "rules": [{"rule": r, "words": rule_words(r)} for r in result.get("rules") or []],
            "figures": figures}


def deployment_windows(deployment, windows=WINDOWS, now: datetime.datetime | None = None) -> dict:
    """{"available", "problem", "windows": {window: result_view}} for one deployment (never raises)."""
    now = now or timezone.now()
    try:
        report = _report()
        views = {w: result_view(report.as_dict(report.deployment_energy(deployment, window=w, now=now)))
                 for w in windows}
    except ReportUnavailable as exc:
        return {"available": False, "problem": str(exc), "windows": {}}
    except Exception as exc:
        log.exception("energy report of deployment %s failed", deployment.pk)
        return {"available": False, "problem": f"energy report failed: {exc}", "windows": {}}
    return {"available": True, "problem": "", "windows": views}


def pilot(window: str) -> dict:
    """The pilot table over `window` (cached briefly: several screens share it)."""
    key = f"microdc:dashboard:pilot:{window}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        report = _report()
        rows = [result_view(report.as_dict(r)) for r in report.pilot_table(window=window)]
        view = {"available": True, "problem": "", "rows": rows}
    except ReportUnavailable as exc:
        view = {"available": False, "problem": str(exc), "rows": []}
    except Exception as exc:
        log.exception("pilot table over %s failed", window)
        view = {"available": False, "problem": f"energy report failed: {exc}", "rows": []}
    cache.set(key, view, CACHE_SECONDS.get(window, 10))
    return view


def on_gpus(node, deployments: list) -> tuple[dict[int, list[dict]], dict[int, dict]]:
    """What runs on each GPU of `node` now (its open reservations) and each deployment's J/token over 24 h at
    the GPU: ({accelerator id: [{"id", "name"}]}, {deployment id: {"value", "reason"}})."""
    held: dict[int, list[dict]] = {}
    names = {}
    for reservation in (Reservation.objects.filter(node=node, end__isnull=True, accelerator__isnull=False)
                        .select_related("deployment").order_by("accelerator__index", "deployment__name")):
        names[reservation.deployment_id] = reservation.deployment
        held.setdefault(reservation.accelerator_id, []).append(
            {"id": reservation.deployment_id, "name": reservation.deployment.name})
    for deployment in deployments:
        names.setdefault(deployment.pk, deployment)
    per_token = {}
    for pk, deployment in names.items():
        result = deployment_windows(deployment, ("24h",))
        if not result["available"]:
            per_token[pk] = {"value": None, "reason": result["problem"]}
        else:
            per_token[pk] = result["windows"]["24h"]["figures"]["jpt_gpu"]
    return held, per_token
