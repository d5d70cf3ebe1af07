"""Node agent tokens: a credential that can push its own node's telemetry and nothing else.

A bootstrap installs a new token on the node while the agent there still uses the old one: the new token
is "pending" (accepted beside the current one) until it is known to be installed, i.e. the bootstrap
succeeded or the agent authenticated with it; a failed bootstrap drops it and the old token goes on working.
"""

import hmac
import secrets

from django.db.models import Q

from microdc.core.models import hash_secret
from microdc.core.tokens import parse_key

from .models import Node

PREFIX = "mdcn"


def _new_key() -> tuple[str, str]:
    key_id = secrets.token_hex(8)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def issue_agent_token(node: Node) -> str:
    """Give the node a new token (the old one stops working) and return it; it is not kept in clear."""
    key_id, key = _new_key()
    node.agent_token_id = key_id
    node.agent_token_hash = hash_secret(key)
    node.pending_agent_token_id = None
    node.pending_agent_token_hash = ""
    node.save(update_fields=["agent_token_id", "agent_token_hash", "pending_agent_token_id",
                             "pending_agent_token_hash"])
    return key


def issue_pending_agent_token(node: Node) -> str:
    """A new token accepted beside the current one until promote_pending or drop_pending; returned once."""
    key_id, key = _new_key()
    node.pending_agent_token_id = key_id
    node.pending_agent_token_hash = hash_secret(key)
    node.save(update_fields=["pending_agent_token_id", "pending_agent_token_hash"])
    return key


def promote_pending(node: Node, key: str) -> bool:
    """This pending token becomes the node's only token (the old one stops working); True when promoted,
    False when it is no longer the pending one (already promoted, dropped, or replaced)."""
    key_id = parse_key(key, PREFIX)
    # One conditional UPDATE: a concurrent promote, drop or newer bootstrap never mixes with this one.
    return bool(Node.objects.filter(pk=node.pk, pending_agent_token_id=key_id).update(
        agent_token_id=key_id, agent_token_hash=hash_secret(key),
        pending_agent_token_id=None, pending_agent_token_hash=""))


def drop_pending(node: Node, key: str) -> None:
    """Forget this pending token (its bootstrap failed): the current one stays the node's token. A token
    already promoted (the agent used it) or replaced by a newer bootstrap's is left alone."""
    Node.objects.filter(pk=node.pk, pending_agent_token_id=parse_key(key, PREFIX)).update(
        pending_agent_token_id=None, pending_agent_token_hash="")


def node_for_token(key: str) -> Node | None:
    key_id = parse_key(key, PREFIX)
    if key_id is None:
        return None
    # Every telemetry push runs this: no joins, no ordering (a token id names one node at most).
    node = next(iter(Node.objects.filter(Q(agent_token_id=key_id) | Q(pending_agent_token_id=key_id))
                     .order_by()[:1]), None)
    if node is None or node.status == Node.Status.DECOMMISSIONED or node.retired_at is not None:
        return None
    if node.agent_token_id == key_id:
        return node if hmac.compare_digest(node.agent_token_hash, hash_secret(key)) else None
    if not hmac.compare_digest(node.pending_agent_token_hash, hash_secret(key)):
        return None
    # The agent runs with the new token: it is installed, whatever became of the bootstrap job.
    promote_pending(node, key)
    node.refresh_from_db(fields=["agent_token_id", "agent_token_hash", "pending_agent_token_id",
                                 "pending_agent_token_hash"])
    return node
