"""Where an alert links to: the dashboard page of what it is about. Plain paths rather than reverse(): resolving
a URL loads the whole URLconf (every API view, DRF, the schema generator), some 25 MB that the worker, which
evaluates the rules, never serves. tests/alerts/test_links.py holds these to the URLconf."""

FACILITY = "/facility/"


def node(node_id: int) -> str:
    return f"/nodes/{node_id}/"


def deployment(deployment_id: int) -> str:
    return f"/deployments/{deployment_id}/"
