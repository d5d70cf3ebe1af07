"""PromQL meters: instant queries against a Prometheus the site already runs (often scraping its PDUs
with snmp_exporter), one query per reading.

Settings (JSON, no secrets):

``queries`` (required): a list of ``{"query": "sum(pdu_power_watts{rack=\\"a\\"})", "quantity": "power_watts",
    "channel": "", "scale": 1.0, "channel_label": null}``. Each query must return exactly one
    series (wrap it in ``sum(...)``), unless ``channel_label`` is set: then every series gives a
    reading whose channel is ``<channel>.<value of that label>`` (or just the label value when
    ``channel`` is empty). The reading is ``value * scale`` in the quantity's base unit.
``scheme`` (default ``"http"``): ``http`` or ``https``; the port defaults to 9090.
``path_prefix`` (default ``""``): e.g. ``/prometheus`` when Prometheus runs behind a proxy path.
``verify_tls`` (default ``true``).

Secret (optional): ``bearer_token``, or ``username`` and ``password`` for basic auth.

A query that fails (HTTP error, ``"status": "error"``), returns no data, or returns NaN fails the
read with the query in the message: an empty answer is missing data, never zero.
"""

from __future__ import annotations

import math

from ._fields import Fields, channel, secret_string
from ._http import HttpSession
from .base import Deadline, MeterError, Reading, SettingsError, begin_read, check_readings

DEFAULT_PORT = 9090


class PromqlSource:
    protocol = "promql"

    def validate_settings(self, settings: dict, secret: dict) -> dict:
        fields = Fields(settings)
        queries = []
        for entry in fields.objects("queries", max_items=100):
            queries.append({
                "query": entry.string("query", max_length=4000),
                "quantity": entry.quantity(),
                "channel": channel(entry),
                "scale": entry.number("scale", 1.0, nonzero=True),
                "channel_label": entry.string("channel_label", None, max_length=100),
            })
            entry.done()
        if not queries:
            raise SettingsError("queries", "needs at least one query")
        prefix = fields.string("path_prefix", "", allow_empty=True, max_length=200).rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise SettingsError("path_prefix", "must start with /")
        normalised = {
            "queries": queries,
            "scheme": fields.choice("scheme", ("http", "https"), "http"),
            "path_prefix": prefix,
            "verify_tls": fields.boolean("verify_tls", True),
        }
        fields.done()
        secret = secret or {}
        token = secret_string(secret, "bearer_token", required=False)
        username = secret_string(secret, "username", required=False)
        password = secret_string(secret, "password", required=bool(username))
        if token and (username or password):
            raise SettingsError("secret.bearer_token", "use either a bearer token or a username and password, not both")
        return normalised

    def read(self, host: str, port: int | None, settings: dict, secret: dict, timeout: float) -> list[Reading]:
        deadline, settings = begin_read(self, settings, secret, timeout)
        secret = secret or {}
        headers = {"Accept": "application/json"}
        if secret.get("bearer_token"):
            headers["Authorization"] = f"Bearer {secret['bearer_token']}"
        auth = (secret["username"], secret["password"]) if secret.get("username") else None
        readings: list[Reading] = []
        with HttpSession(
            settings["scheme"], host, port or DEFAULT_PORT, verify_tls=settings["verify_tls"], deadline=deadline,
            headers=headers, auth=auth,
        ) as http:
            for query in settings["queries"]:
                readings += _run_query(http, settings["path_prefix"], query, deadline)
        return check_readings(readings)


def _run_query(http: HttpSession, prefix: str, query: dict, deadline: Deadline) -> list[Reading]:
    # Prometheus stops evaluating at its own timeout too, so a heavy query does not keep running there.
    params = {"query": query["query"], "timeout": f"{max(int(deadline.left() * 1000), 1)}ms"}
    response = http.request("GET", f"{prefix}/api/v1/query", params=params)
    try:
        document = response.json()
    except MeterError:
        if response.status >= 400:  # not an API answer at all (wrong path, a proxy's error page)
            raise MeterError(f"HTTP {response.status} from {response.url}") from None
        raise
    if not isinstance(document, dict) or "status" not in document:
        raise MeterError(f"not a Prometheus API answer from {response.url} (HTTP {response.status})")
    if document["status"] != "success":
        raise MeterError(f"Prometheus rejected {query['query']!r}: {document.get('errorType', 'error')}: "
                         f"{document.get('error', 'no detail')}")
    data = document.get("data") or {}
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "scalar":
        series = [({}, result)]
    elif result_type == "vector":
        series = [(item.get("metric") or {}, item.get("value")) for item in result or []]
    else:
        raise MeterError(f"{query['query']!r} returned a {result_type}; meters need an instant vector or scalar")
    if not series:
        raise MeterError(f"{query['query']!r} returned no data (no series matched, or all are stale)")
    if len(series) > 1 and not query["channel_label"]:
        raise MeterError(f"{query['query']!r} returned {len(series)} series; wrap it in sum(...) or set channel_label")
    readings = []
    for labels, sample in series:
        value = _sample_value(sample, query["query"])
        name = query["channel"]
        if query["channel_label"]:
            label = labels.get(query["channel_label"])
            if label is None:
                raise MeterError(f"{query['query']!r} returned a series without the label {query['channel_label']!r}")
            name = f"{name}.{label}" if name else label
        readings.append(Reading(query["quantity"], value * query["scale"], name))
    return readings


def _sample_value(sample: object, query: str) -> float:
    try:
        value = float(sample[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        raise MeterError(f"{query!r} returned a malformed sample: {sample!r}") from None
    if not math.isfinite(value):
        raise MeterError(f"{query!r} returned {value}: no usable value")
    return value
