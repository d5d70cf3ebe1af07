"""How many live connections a user holds, counted across every web process in the shared cache.

A connection takes one of its user's MICRODC_LIVE_MAX_CONNECTIONS_PER_USER slots: a cache key added only if it is
free (an atomic add, so two processes never take the same one), renewed while the socket is open and deleted when
it closes. A process that dies with sockets open frees their slots when they expire, SLOT_SECONDS later.
"""

import logging

from django.conf import settings
from django.core.cache import caches

log = logging.getLogger(__name__)

SLOT_SECONDS = 60
RENEW_SECONDS = 20  # well inside SLOT_SECONDS: a busy loop renewing late must not lose the slot


def _key(user_id: int, index: int) -> str:
    return f"live-connection:{user_id}:{index}"


def take(user_id: int, holder: str) -> str | None:
    """A free slot of the user's, now held by `holder` (the connection's channel name); None when all are held."""
    cache = caches["shared"]
    for index in range(settings.MICRODC_LIVE_MAX_CONNECTIONS_PER_USER):
        if cache.add(key := _key(user_id, index), holder, timeout=SLOT_SECONDS):
            return key
    return None


def renew(key: str, holder: str) -> None:
    cache = caches["shared"]
    if cache.get(key) == holder:
        cache.touch(key, timeout=SLOT_SECONDS)
    elif not cache.add(key, holder, timeout=SLOT_SECONDS):
        # Expired while the loop was stalled, and another connection took it: this one is over the limit until it
        # closes; counting it twice would be wrong, closing it mid-use would be rude.
        log.warning("live connection slot %s lapsed and was taken by another connection", key)


def release(key: str, holder: str) -> None:
    cache = caches["shared"]
    if cache.get(key) == holder:
        cache.delete(key)
