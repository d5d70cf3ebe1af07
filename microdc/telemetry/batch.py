"""Validation of an agent's telemetry batch, before anything is stored.

Hand-written rather than a serializer: ingest must handle tens of thousands of GPU samples a second, and
every error names the exact place (``samples[3].devices[1].metrics.power_watts``).
"""

import datetime
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from microdc.agent.power_limits import STATUSES as LIMIT_STATUSES

from .metrics_catalog import METRIC_NAME

MAX_SAMPLES_PER_BATCH = 2000
MAX_ENTRIES_PER_SAMPLE = 256
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
# Largest magnitude a value may have: far beyond any reading or counter (a uint64 counter tops out at 1.8e19),
# and far enough below float64's limit (1.8e308) that rollup arithmetic on it (sums of many samples, value x
# seconds) stays finite.
MAX_MAGNITUDE = 1e100
OLDEST_ACCEPTED = datetime.timedelta(days=30)
DEVICE_KINDS = {"gpu", "npu"}


class BatchError(ValueError):
    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(slots=True)
class Device:
    kind: str
    index: int
    uuid: str
    name: str
    vendor: str
    simulated: bool
    metrics: dict[str, float]
    attributes: dict[str, Any]


@dataclass(slots=True)
class Sensor:
    key: str
    simulated: bool
    metrics: dict[str, float]


@dataclass(slots=True)
class ParsedSample:
    ts: datetime.datetime
    devices: list[Device] = field(default_factory=list)
    sensors: list[Sensor] = field(default_factory=list)


@dataclass(slots=True)
class ParsedBatch:
    batch_id: uuid.UUID
    node: str | None
    agent_version: str
    samples: list[ParsedSample]


def _require(obj: dict, key: str, kind: type | tuple, where: str):
    if key not in obj:
        raise BatchError(f"{where}.{key}" if where else key, "this field is required")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise BatchError(f"{where}.{key}" if where else key, f"must be {names}, got {type(value).__name__}")
    return value


def _text(obj: dict, key: str, where: str, max_length: int, required: bool = True) -> str:
    if not required and key not in obj:
        return ""
    value = _require(obj, key, str, where)
    if len(value) > max_length:
        raise BatchError(f"{where}.{key}", f"longer than {max_length} characters")
    return value


# Metric names already checked against METRIC_NAME; agents send the same few dozen names over and over.
_KNOWN_NAMES: set[str] = set()
_hypot = math.hypot
_NUMBER_TYPES = frozenset({int, float})  # exact types: bool is not a number here


def _metrics(obj: dict, where: str) -> dict[str, float]:
    metrics = _require(obj, "metrics", dict, where)
    for name, value in metrics.items():
        if name not in _KNOWN_NAMES:
            if not isinstance(name, str) or not METRIC_NAME.match(name):
                raise BatchError(f"{where}.metrics", f"bad metric name {str(name)[:70]!r}")
            if len(_KNOWN_NAMES) < 4096:
                _KNOWN_NAMES.add(name)
        if not finite_number(value):
            raise BatchError(f"{where}.metrics.{name}",
                             f"must be a finite number of magnitude at most {MAX_MAGNITUDE:g}, got {value!r}"[:200])
    return metrics


def finite_number(value: Any) -> bool:
    """What every stored value must be: an int or float (bool is not a number here) within +-MAX_MAGNITUDE.

    JSON allows integers of any length and Python's decoder accepts NaN and Infinity; stored, any of them (or a
    float near float64's limit) breaks every later use of it: the /metrics render, the rollup run."""
    kind = type(value)
    # Exact for ints of any length (no float conversion); false for NaN.
    return (kind is float or kind is int) and -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE


def _timestamp(value: Any, where: str, now: datetime.datetime) -> datetime.datetime:
    if not isinstance(value, str):
        raise BatchError(where, "must be an ISO 8601 timestamp string")
    try:
        ts = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise BatchError(where, f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if ts.tzinfo is None:
        raise BatchError(where, "needs a UTC offset (e.g. +00:00)")
    if ts > now + MAX_CLOCK_SKEW:
        raise BatchError(where, f"{value} is in the future (appliance time {now.isoformat(timespec='seconds')}); "
                                "check the node's clock")
    if ts < now - OLDEST_ACCEPTED:
        raise BatchError(where, f"{value} is older than {OLDEST_ACCEPTED.days} days")
    return ts


# What the agent made of the appliance's desired power limit (the wire format is the agent's).
POWER_LIMIT_STATUSES = frozenset(LIMIT_STATUSES)


def power_limit_outcome(raw: Any, where: str) -> dict[str, Any]:
    if type(raw) is not dict:
        raise BatchError(where, "must be an object {desired_watts, status, detail}")
    desired, state, detail = raw.get("desired_watts"), raw.get("status"), raw.get("detail", "")
    if desired is not None and not (finite_number(desired) and desired > 0):
        raise BatchError(f"{where}.desired_watts", "must be a positive number of watts or null")
    if type(state) is not str or state not in POWER_LIMIT_STATUSES:
        raise BatchError(f"{where}.status", f"must be one of {', '.join(sorted(POWER_LIMIT_STATUSES))}")
    if type(detail) is not str or len(detail) > 300:
        raise BatchError(f"{where}.detail", "must be a string of at most 300 characters")
    return {"desired_watts": desired, "status": state, "detail": detail}


def _fast_device(raw: Any) -> Device | None:
    """The common case, checked with few calls; None sends the entry to _device for a precise error."""
    if type(raw) is not dict:
        return None
    get = raw.get
    kind, index, uuid_text = get("kind"), get("index"), get("uuid")
    name, vendor, metrics = get("name", ""), get("vendor", ""), get("metrics")
    if (type(kind) is not str or kind not in DEVICE_KINDS or type(index) is not int or not 0 <= index < 1024
            or type(uuid_text) is not str or not 0 < len(uuid_text) <= 100 or type(name) is not str or len(name) > 100
            or type(vendor) is not str or len(vendor) > 50 or type(metrics) is not dict):
        return None
    # Whole-dict checks in C: known names, number types, and magnitudes (the Euclidean norm is within
    # MAX_MAGNITUDE only if every value is; NaN fails the comparison, and hypot never overflows on the way).
    # Anything else, an overflow included (an int beyond float64), only sends the entry to the precise path,
    # which checks each value with finite_number.
    values = metrics.values()
    if not _KNOWN_NAMES.issuperset(metrics) or not all(map(_NUMBER_TYPES.__contains__, map(type, values))):
        return None
    try:
        if not _hypot(*values) <= MAX_MAGNITUDE:
            return None
    except OverflowError:
        return None
    attributes = {}
    if "throttle_reasons" in raw:
        reasons = raw["throttle_reasons"]
        if type(reasons) is not list or len(reasons) > 32 or not all(type(r) is str and len(r) < 64
                                                                     for r in reasons):
            return None
        attributes["throttle_reasons"] = reasons
    if "mig_mode" in raw:
        mig = raw["mig_mode"]
        if type(mig) is not str or len(mig) > 16:
            return None
        attributes["mig_mode"] = mig
    if "power_limit" in raw:
        try:
            attributes["power_limit"] = power_limit_outcome(raw["power_limit"], "")
        except BatchError:
            return None
    return Device(kind, index, uuid_text, name, vendor, get("simulated") is True, metrics, attributes)


def _device(raw: Any, where: str) -> Device:
    if not isinstance(raw, dict):
        raise BatchError(where, "must be an object")
    kind = _text(raw, "kind", where, 8)
    if kind not in DEVICE_KINDS:
        raise BatchError(f"{where}.kind", f"must be one of {sorted(DEVICE_KINDS)}, got {kind!r}")
    index = _require(raw, "index", int, where)
    if not 0 <= index < 1024:
        raise BatchError(f"{where}.index", "must be between 0 and 1023")
    uuid_text = _text(raw, "uuid", where, 100)
    if not uuid_text:
        raise BatchError(f"{where}.uuid", "must not be empty")
    attributes = {}
    if "throttle_reasons" in raw:
        reasons = raw["throttle_reasons"]
        if not isinstance(reasons, list) or not all(isinstance(r, str) and len(r) < 64 for r in reasons):
            raise BatchError(f"{where}.throttle_reasons", "must be a list of short strings")
        attributes["throttle_reasons"] = reasons[:32]
    if "mig_mode" in raw:
        attributes["mig_mode"] = _text(raw, "mig_mode", where, 16)
    if "power_limit" in raw:
        attributes["power_limit"] = power_limit_outcome(raw["power_limit"], f"{where}.power_limit")
    return Device(
        kind=kind, index=index, uuid=uuid_text, name=_text(raw, "name", where, 100, required=False),
        vendor=_text(raw, "vendor", where, 50, required=False), simulated=raw.get("simulated") is True,
        metrics=_metrics(raw, where), attributes=attributes,
    )


def _sensor(raw: Any, where: str) -> Sensor:
    if not isinstance(raw, dict):
        raise BatchError(where, "must be an object")
    source = _text(raw, "source", where, 20)
    chip = _text(raw, "chip", where, 80, required=False)
    name = _text(raw, "name", where, 80)
    return Sensor(key=f"{source}/{chip}/{name}", simulated=raw.get("simulated") is True,
                  metrics=_metrics(raw, where))


def parse_batch(payload: Any, now: datetime.datetime) -> ParsedBatch:
    if not isinstance(payload, dict):
        raise BatchError("body", "must be a JSON object")
    try:
        batch_id = uuid.UUID(_require(payload, "batch_id", str, ""))
    except ValueError:
        raise BatchError("batch_id", "must be a UUID") from None
    node = payload.get("node")
    if node is not None and not isinstance(node, str):
        raise BatchError("node", "must be a string")
    samples_raw = _require(payload, "samples", list, "")
    if not samples_raw:
        raise BatchError("samples", "must not be empty")
    if len(samples_raw) > MAX_SAMPLES_PER_BATCH:
        raise BatchError("samples", f"more than {MAX_SAMPLES_PER_BATCH} samples in one batch")
    samples = []
    for i, raw in enumerate(samples_raw):
        where = f"samples[{i}]"
        if not isinstance(raw, dict):
            raise BatchError(where, "must be an object")
        sample = ParsedSample(ts=_timestamp(raw.get("ts"), f"{where}.ts", now))
        devices = raw.get("devices", [])
        sensors = raw.get("sensors", [])
        if not isinstance(devices, list) or not isinstance(sensors, list):
            raise BatchError(where, "devices and sensors must be lists")
        if len(devices) + len(sensors) > MAX_ENTRIES_PER_SAMPLE:
            raise BatchError(where, f"more than {MAX_ENTRIES_PER_SAMPLE} devices and sensors")
        sample.devices = [_fast_device(d) or _device(d, f"{where}.devices[{j}]") for j, d in enumerate(devices)]
        sample.sensors = [_sensor(s, f"{where}.sensors[{j}]") for j, s in enumerate(sensors)]
        seen = set()
        for j, device in enumerate(sample.devices):
            if device.uuid in seen:
                raise BatchError(f"{where}.devices[{j}].uuid", f"{device.uuid} appears twice in one sample")
            seen.add(device.uuid)
        samples.append(sample)
    version = payload.get("agent_version", "")
    return ParsedBatch(batch_id=batch_id, node=node, agent_version=str(version)[:50], samples=samples)
