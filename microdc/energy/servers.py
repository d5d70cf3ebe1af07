"""Keep the ModelServer rows in step with the deployments: one per (deployment, node) a rollout recorded.

A row is active (scraped) while its deployment is healthy and the node's endpoint is healthy with a metrics
URL; otherwise it stays, inactive, with its counters' history.
"""

from django.db import transaction

from microdc.nodes.models import Node
from microdc.provisioning.models import Deployment

from .models import ModelServer


def _wanted() -> dict[tuple[int, int], tuple[Deployment, Node, str]]:
    deployments = list(Deployment.objects.filter(status=Deployment.Status.HEALTHY))
    endpoints = [(d, e) for d in deployments for e in (d.endpoints or [])
                 if isinstance(e, dict) and e.get("state") == "healthy" and e.get("metrics_url")]
    nodes = Node.objects.in_bulk([str(e.get("node")) for _, e in endpoints], field_name="hostname")
    return {(d.pk, nodes[e["node"]].pk): (d, nodes[e["node"]], str(e["metrics_url"]))
            for d, e in endpoints if e.get("node") in nodes}


@transaction.atomic
def sync_model_servers() -> None:
    wanted = _wanted()
    changed = []
    for server in ModelServer.objects.select_for_update().order_by("pk"):
        entry = wanted.pop((server.deployment_id, server.node_id), None)
        if entry is None:
            if server.active:
                server.active = False
                changed.append(server)
            continue
        deployment, _, url = entry
        if not server.active or server.metrics_url != url or server.runtime != deployment.runtime:
            server.active, server.metrics_url, server.runtime = True, url, deployment.runtime
            changed.append(server)
    if changed:
        ModelServer.objects.bulk_update(changed, ["active", "metrics_url", "runtime"])
    ModelServer.objects.bulk_create(
        [ModelServer(deployment=deployment, node=node, runtime=deployment.runtime, metrics_url=url, active=True)
         for deployment, node, url in wanted.values()],
        ignore_conflicts=True)  # a concurrent sync may have made the same row
