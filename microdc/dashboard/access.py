"""Which live groups a user may join: those naming an object that exists and that the user's role may read.

Every role reads the whole site (microdc.core.roles), so the role decides whether anything may be joined at all,
and the database decides what: a group of an object that does not exist is refused, so a socket cannot start
watches of made-up ids.
"""

from django.contrib.auth import get_user_model

from microdc.core.roles import role_of
from microdc.nodes.models import Node, Rack, Site

from . import provisioning

MODELS = {"site": lambda: Site, "rack": lambda: Rack, "node": lambda: Node, "job": lambda: provisioning.model("Job"),
          "deployment": lambda: provisioning.model("Deployment"), "alerts": lambda: Site}


def joinable(user, groups: list[str]) -> set[str]:
    """The groups of `groups` (well-formed "<kind>.<id>" names) that `user` may join now."""
    # The user as stored now: the socket's copy was read when it connected (since deactivated, or demoted).
    user = get_user_model().objects.filter(pk=user.pk).first()
    if role_of(user) is None:
        return set()
    ids_by_kind: dict[str, set[int]] = {}
    for group in groups:
        kind, _, ident = group.partition(".")
        ids_by_kind.setdefault(kind, set()).add(int(ident))
    allowed = set()
    for kind, ids in ids_by_kind.items():
        model = MODELS[kind]()
        if model is not None:
            allowed.update(f"{kind}.{pk}" for pk in model.objects.filter(pk__in=ids).values_list("pk", flat=True))
    return allowed
