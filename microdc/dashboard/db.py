"""Where the live machinery reads the database from the event loop: a thread of its own per kind of work.

Node messages (publisher) and periodic refreshes (watches) each queue on one dedicated thread, so a slow
refresh (a site summary whose PUE rolls up a day of telemetry) never holds up the next node's message, and
neither competes with requests for Django's request threads. DatabaseSyncToAsync closes stale connections
around each call, as Django does around a request.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync

PUBLISH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="microdc-live-publish")
REFRESH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="microdc-live-refresh")
# Connection slots and subscription checks: short, and never behind a slow refresh.
ACCESS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="microdc-live-access")

# True: run everything on asgiref's one thread-sensitive thread instead. The test suite sets it: its in-memory
# SQLite database (shared cache) refuses a reader and a writer at once instead of letting one wait.
SERIALIZE = False


async def run(executor: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Any:
    if SERIALIZE:
        return await DatabaseSyncToAsync(fn)(*args)
    return await DatabaseSyncToAsync(fn, thread_sensitive=False, executor=executor)(*args)
