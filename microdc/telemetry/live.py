"""Tell whoever shows telemetry live that something changed. Writers call this after their transaction commits.

Telemetry ingest calls ``node_updated(node_id)`` and the facility poller ``meter_updated(meter_id)`` from
``transaction.on_commit``, so nobody is ever told about data that was rolled back.

This module only fans the notice out to listeners registered at start-up (the dashboard registers its
publisher in ``DashboardConfig.ready``). It builds no payload and touches no database, so the call costs next
to nothing inside a request, and the dependency points the right way: telemetry imports no dashboard code.
"""

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# listener(kind, id): kind is "node" or "meter". Called in the writer's thread; must return quickly.
Listener = Callable[[str, int], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def node_updated(node_id: int) -> None:
    """The node's telemetry (latest values, agent state) changed and is committed."""
    _notify("node", node_id)


def meter_updated(meter_id: int) -> None:
    """A facility meter's readings changed and are committed."""
    _notify("meter", meter_id)


def _notify(kind: str, ident: int) -> None:
    for listener in list(_listeners):
        try:
            listener(kind, ident)
        except Exception:
            # A screen that cannot be told must never fail the ingest that already committed.
            log.exception("live listener %r failed for %s %s", listener, kind, ident)
