from rest_framework import authentication, exceptions

from .agent_tokens import node_for_token


class NodeAgent:
    """The principal of a request made with a node's agent token: not a user, never has a role."""

    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False

    def __init__(self, node):
        self.node = node

    def __str__(self):
        return f"agent of {self.node.hostname}"

    def get_username(self):
        return f"agent:{self.node.hostname}"


class NodeTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer mdcn_<id>_<secret>`: only the telemetry push endpoint accepts it."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <node token>'.")
        node = node_for_token(header[1].decode(errors="replace"))
        if node is None:
            raise exceptions.AuthenticationFailed(
                "Unknown or replaced node token, or the node is decommissioned or retired.")
        return NodeAgent(node), node

    def authenticate_header(self, request):
        return self.keyword
