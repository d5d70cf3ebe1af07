"""The site always keeps an active admin: the guard every path that deletes, deactivates or demotes users runs."""

from collections.abc import Iterable

from django.db.models import Q

from .models import User
from .roles import Role


class LastAdminError(Exception):
    """The change would leave the site with no active admin (the API answers 409)."""


def is_admin(*, role: str, is_active: bool, is_superuser: bool) -> bool:
    return is_active and (is_superuser or role == Role.ADMIN)


def keep_an_admin(leaving: Iterable[int | str]) -> None:
    """Refuse if the users in `leaving` (about to be deleted, deactivated or demoted) are all the active admins.

    Locks the active admins' rows (SELECT ... FOR UPDATE), so call it inside the transaction that then makes the
    change: two concurrent demotions queue here, and the second sees that the first admin is already gone. (On
    SQLite the lock is a no-op, but its IMMEDIATE transactions, see settings, let one writer in at a time.)
    """
    leaving = {int(pk) for pk in leaving}
    admins = (User.objects.select_for_update().filter(is_active=True)
              .filter(Q(role=Role.ADMIN) | Q(is_superuser=True)))
    remaining = {pk: name for pk, name in admins.values_list("pk", "username")}
    last = [remaining.pop(pk) for pk in sorted(leaving) if pk in remaining]
    if last and not remaining:
        names = ", ".join(last)
        raise LastAdminError(f"{names} {'is the last active admin' if len(last) == 1 else 'are the last active admins'}"
                             ": make another user an admin first, so that someone can still administer the site.")
