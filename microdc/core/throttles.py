"""Login throttling: attempts counted per user name and per client address, in the cache all web processes share.

Every password check (API token, /login/, /admin/login/) goes through `authenticate`. An attempt is counted
before the password is checked (so parallel guesses cannot slip past the count) and refunded when it succeeds,
so only failed attempts use up the rate. Counts live in fixed windows of the rate's period. Redis counts
atomically; the database cache's incr is a read then a write, so attempts landing at the very same moment may
count once: at most the rate times the attempts in flight at once (without Redis there is one web process).
"""

import contextlib
import hashlib
import logging
import math
import time

from django.conf import settings
from django.contrib import auth
from django.core.cache import caches

from .clients import client_address

log = logging.getLogger(__name__)
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LoginThrottled(Exception):
    def __init__(self, wait: int):
        super().__init__(f"Too many failed login attempts; try again in {wait} seconds.")
        self.wait = wait


def login_rate() -> tuple[int, int]:
    """MICRODC_LOGIN_RATE ("20/min", "5/s", "100/h") as (attempts, seconds)."""
    count, _, period = settings.MICRODC_LOGIN_RATE.partition("/")
    if not count.strip().isdigit() or period.strip()[:1] not in PERIODS:
        raise ValueError(f"MICRODC_LOGIN_RATE must be like 20/min, got {settings.MICRODC_LOGIN_RATE!r}")
    return int(count), PERIODS[period.strip()[0]]


class LoginThrottle:
    def __init__(self, username: str, client: str):
        self.idents = {"user": username.casefold(), "client": client}
        self.cache = caches["shared"]
        self.keys: list[str] = []

    def attempt(self) -> int | None:
        """Count this attempt; the seconds to wait when the user name or the client is over the rate, else None."""
        limit, period = login_rate()
        now = time.time()
        window = int(now // period)
        self.keys = [f"login:{scope}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}:{window}"
                     for scope, ident in self.idents.items()]
        over = False
        for key in self.keys:
            self.cache.add(key, 0, timeout=period + 1)
            try:
                count = self.cache.incr(key)
            except ValueError:  # expired between add and incr
                self.cache.add(key, count := 1, timeout=period + 1)
            over = over or count > limit
        return max(1, math.ceil((window + 1) * period - now)) if over else None

    def refund(self) -> None:
        for key in self.keys:
            with contextlib.suppress(ValueError):  # its window is over
                self.cache.decr(key)


def authenticate(request, username: str, password: str):
    """django.contrib.auth.authenticate, throttled; raises LoginThrottled instead of checking the password."""
    client = client_address(request)
    throttle = LoginThrottle(username, client)
    wait = throttle.attempt()
    if wait is not None:
        log.warning("login throttled: user %r from %s (retry in %d s)", username, client, wait)
        raise LoginThrottled(wait)
    user = auth.authenticate(request, username=username, password=password)
    if user is not None:
        throttle.refund()
    return user
