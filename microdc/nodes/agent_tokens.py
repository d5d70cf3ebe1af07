"""Node agent tokens: a credential that can push its own node's telemetry and nothing else."""

import hmac
import secrets

from microdc.core.models import hash_secret
from microdc.core.tokens import parse_key

from .models import Node

PREFIX = "mdcn"


def issue_agent_token(node: Node) -> str:
    """Give the node a new token (the old one stops working) and return it; it is not kept in clear."""
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    node.agent_token_id = key_id
    node.agent_token_hash = hash_secret(key)
    node.save(update_fields=["agent_token_id", "agent_token_hash"])
    return key


def node_for_token(key: str) -> Node | None:
    key_id = parse_key(key, PREFIX)
    if key_id is None:
        return None
    node = Node.objects.select_related("rack__site").filter(agent_token_id=key_id).first()
    if node is None or not hmac.compare_digest(node.agent_token_hash, hash_secret(key)):
        return None
    if node.status == Node.Status.DECOMMISSIONED or node.retired_at is not None:
        return None
    return node
