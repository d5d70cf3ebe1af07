"""Desired accelerator power limits from the appliance, and what applying them gave.

The appliance answers every telemetry push with ``"power_limits": {<device uuid>: watts | null}``: the
desired limit of each accelerator of the node, null meaning the device's default. The sender thread keeps the
newest answer here; before each collection the agent hands it to every collector that can set limits (NVML,
the simulator), so the next sample reports the enforced limit and the outcome. No inbound port on the node,
and behind NAT it works the same; a node cut off from the appliance keeps the limits it last applied (the
driver holds them), and takes new ones with the first answer after it returns. An appliance that sends no
``power_limits`` changes nothing.

Outcomes travel with the device in each sample as ``"power_limit": {"desired_watts", "status", "detail"}``,
status one of ``STATUSES``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

APPLIED = "applied"
NOT_PERMITTED = "not_permitted"  # NVML NO_PERMISSION: setting a limit needs root
NOT_SUPPORTED = "not_supported"  # the board or its driver has no settable limit
OUT_OF_RANGE = "out_of_range"  # outside the device's constraints
FAILED = "error"
STATUSES = (APPLIED, NOT_PERMITTED, NOT_SUPPORTED, OUT_OF_RANGE, FAILED)
# A refused limit is tried again this often (a node whose agent gains root, a driver that recovers), never
# every collection.
RETRY_SECONDS = 300.0
MAX_WATTS = 100_000.0

Desired = Mapping[str, float | None]


@dataclass(frozen=True)
class LimitOutcome:
    desired_watts: float | None
    status: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"desired_watts": self.desired_watts, "status": self.status, "detail": self.detail}


@runtime_checkable
class LimitSetter(Protocol):
    """A collector whose devices take power limits."""

    def apply_power_limits(self, desired: Desired, now: float) -> None: ...


class DesiredLimits:
    """The appliance's newest desired limits, shared between the sender thread and the collection loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limits: dict[str, float | None] | None = None
        self._warned = False

    def update_from_reply(self, reply: Any) -> None:
        """Take ``power_limits`` from a push reply; a reply without it (an older appliance) changes nothing,
        and an entry that is not a uuid with a positive finite number of watts or null is left out."""
        if not isinstance(reply, dict) or "power_limits" not in reply:
            return
        raw = reply["power_limits"]
        limits: dict[str, float | None] = {}
        bad: list[str] = []
        for uuid, watts in (raw.items() if isinstance(raw, dict) else ()):
            if not isinstance(uuid, str) or not 0 < len(uuid) <= 100:
                bad.append(repr(uuid)[:40])
            elif watts is None:
                limits[uuid] = None
            elif (isinstance(watts, int | float) and not isinstance(watts, bool) and math.isfinite(watts)
                  and 0 < watts <= MAX_WATTS):
                limits[uuid] = float(watts)
            else:
                bad.append(uuid)
        if (bad or not isinstance(raw, dict)) and not self._warned:
            self._warned = True
            log.warning("the appliance sent power limits the agent cannot use (%s); those are left alone",
                        ", ".join(bad) or f"not an object: {type(raw).__name__}")
        with self._lock:
            self._limits = limits

    def current(self) -> dict[str, float | None] | None:
        """None until the appliance has said anything about limits."""
        with self._lock:
            return None if self._limits is None else dict(self._limits)


class Attempts:
    """Per device: the last outcome, and whether a limit should be tried (again) now."""

    def __init__(self) -> None:
        self.outcomes: dict[str, LimitOutcome] = {}
        self._tried: dict[str, tuple[float | None, float]] = {}  # uuid -> (desired, when it last failed)
        self._logged: set[tuple[str, str]] = set()

    def due(self, uuid: str, desired: float | None, now: float) -> bool:
        tried = self._tried.get(uuid)
        return tried is None or tried[0] != desired or now - tried[1] >= RETRY_SECONDS

    def record(self, uuid: str, outcome: LimitOutcome, now: float) -> None:
        self.outcomes[uuid] = outcome
        if outcome.status == APPLIED:
            self._tried.pop(uuid, None)
            return
        self._tried[uuid] = (outcome.desired_watts, now)
        if (uuid, outcome.status) not in self._logged:  # once per device and reason, not every collection
            self._logged.add((uuid, outcome.status))
            log.warning("power limit for %s not applied: %s", uuid, outcome.detail)

    def report(self, uuid: str) -> dict[str, Any] | None:
        outcome = self.outcomes.get(uuid)
        return outcome.as_dict() if outcome is not None else None
