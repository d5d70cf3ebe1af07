"""Where a node may sit in its rack: inside the rack, on no other live node's units (a retired one has left)."""

from django.core.exceptions import ValidationError


def validate_placement(rack, position_u: int, height_u: int, exclude_pk=None) -> None:
    """Raise ValidationError naming position_u when the node would leave the rack or overlap another."""
    top_u = position_u + height_u - 1
    if top_u > rack.height_u:
        raise ValidationError(
            {"position_u": f"A {height_u}U node at U{position_u} reaches U{top_u}, "
                           f"but rack {rack.name} is {rack.height_u}U high."}
        )
    overlapping = (
        rack.nodes.live().exclude(pk=exclude_pk)
        .filter(position_u__lte=top_u)
        .only("hostname", "position_u", "height_u")
    )
    for other in overlapping:
        if other.position_u + other.height_u - 1 >= position_u:
            raise ValidationError(
                {"position_u": f"U{position_u}-U{top_u} of rack {rack.name} overlap node {other.hostname} "
                               f"at U{other.position_u}-U{other.position_u + other.height_u - 1}."}
            )
