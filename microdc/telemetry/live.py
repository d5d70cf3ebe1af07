"""Tell the dashboard's websocket groups that a node's telemetry changed (called after commit).

Coalesced per node: at most one message every MIN_INTERVAL seconds, and the last change of a burst is always
sent (a trailing timer), so a busy node cannot flood browsers and the screen never stays behind.
"""

import threading
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from microdc.nodes.models import Node

from .selectors import node_live_values

MIN_INTERVAL = 0.5
_lock = threading.Lock()
_last_sent: dict[int, float] = {}
_pending: set[int] = set()


def node_updated(node_id: int) -> None:
    with _lock:
        now = time.monotonic()
        wait = _last_sent.get(node_id, 0.0) + MIN_INTERVAL - now
        if wait > 0:
            if node_id not in _pending:
                _pending.add(node_id)
                timer = threading.Timer(wait, _send_pending, args=(node_id,))
                timer.daemon = True
                timer.start()
            return
        _last_sent[node_id] = now
    publish_node(node_id)


def _send_pending(node_id: int) -> None:
    with _lock:
        _pending.discard(node_id)
        _last_sent[node_id] = time.monotonic()
    from django.db import close_old_connections

    try:
        publish_node(node_id)
    finally:
        close_old_connections()


def publish_node(node_id: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    node = Node.objects.select_related("rack").filter(pk=node_id).first()
    if node is None:
        return
    data = {"node": node_id, "hostname": node.hostname, "values": node_live_values(node)}
    send = async_to_sync(layer.group_send)
    for group in (f"node.{node_id}", f"rack.{node.rack_id}", f"site.{node.rack.site_id}"):
        send(group, {"type": "live.update", "group": group, "data": data})
