"""Run an asyncio protocol client (pysnmp, pymodbus) from the poller's synchronous worker threads.

Each worker thread keeps one private event loop and a small per-loop cache (an SNMP engine is costly
to build: about 0.1 s). The whole coroutine runs under ``asyncio.wait_for`` with the time left on the
read's :class:`Deadline`, so a dead peer cannot hold the thread past its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .base import Deadline, MeterError

LoopCache = dict[str, Any]

_local = threading.local()


def run_sync[T](coroutine: Callable[[LoopCache], Awaitable[T]], deadline: Deadline, doing: str) -> T:
    """Run ``coroutine(cache)`` to completion within the deadline; ``doing`` words the timeout error."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_in_thread_loop(coroutine, deadline, doing)
    # Called from async code: this thread's loop is busy, so borrow a short-lived thread with its own.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meter-read") as pool:
        return pool.submit(_run_in_fresh_loop, coroutine, deadline, doing).result()


class _ThreadLoop:
    """This thread's loop; closed (with what it holds) when the thread ends or the interpreter exits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.cache: LoopCache = {}
        weakref.finalize(self, _close_loop, self.loop, self.cache)


def _close_loop(loop: asyncio.AbstractEventLoop, cache: LoopCache) -> None:
    if loop.is_running() or loop.is_closed():
        return
    with contextlib.suppress(Exception):
        for closer in cache.get("_closers", []):
            closer()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


def _thread_loop() -> tuple[asyncio.AbstractEventLoop, LoopCache]:
    holder = getattr(_local, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _local.holder = _ThreadLoop()
    return holder.loop, holder.cache


def _run_in_thread_loop[T](coroutine: Callable[[LoopCache], Awaitable[T]], deadline: Deadline, doing: str) -> T:
    loop, cache = _thread_loop()
    try:
        return loop.run_until_complete(_bounded(coroutine, cache, deadline, doing))
    except MeterError:
        # A read that failed may have left what this loop holds (an SNMP engine and its sockets) in a state
        # no later read recovers from; the next read starts from a fresh loop. A dead meter costs only that.
        _discard_thread_loop()
        raise


def _discard_thread_loop() -> None:
    holder = getattr(_local, "holder", None)
    if holder is not None:
        _local.holder = None
        _close_loop(holder.loop, holder.cache)


def _run_in_fresh_loop[T](coroutine: Callable[[LoopCache], Awaitable[T]], deadline: Deadline, doing: str) -> T:
    loop = asyncio.new_event_loop()
    cache: LoopCache = {}
    try:
        return loop.run_until_complete(_bounded(coroutine, cache, deadline, doing))
    finally:
        _close_loop(loop, cache)


async def _bounded[T](
    coroutine: Callable[[LoopCache], Awaitable[T]], cache: LoopCache, deadline: Deadline, doing: str
) -> T:
    left = deadline.remaining(doing)
    try:
        return await asyncio.wait_for(coroutine(cache), timeout=left)
    except TimeoutError:
        raise deadline.expired_error(doing) from None
