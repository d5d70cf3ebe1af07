"""Tell the dashboard's websocket groups that a node's telemetry changed (called after commit)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from microdc.nodes.models import Node

from .selectors import node_live_values


def node_updated(node_id: int) -> None:
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
