"""Turn "node N changed" notices (telemetry.live, after commit) into coalesced messages on the channel layer.

Per process, per thing: the first change of a node goes out at once (leading edge); further changes within
``NODE_INTERVAL`` wait and leave as one message with the latest values (trailing edge), so a node pushing
many batches a second costs one database read and one message per interval, and the screen never stays
behind its last change.

The work runs on an event loop, never in the ingest request:
- with websocket clients in this process (the consumers call ``attach``), on their loop: the in-memory
  channel layer is not thread-safe, and a message for a local client must be sent from the loop it reads on;
- otherwise, with a layer that reaches other processes (Redis), on a background loop thread of its own;
- otherwise (in-memory layer, nobody listening here) nothing is built at all.
"""

import asyncio
import contextlib
import contextvars
import logging
import threading
import time

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from . import db
from .payloads import build_messages

log = logging.getLogger(__name__)

NODE_INTERVAL = float(getattr(settings, "MICRODC_LIVE_NODE_INTERVAL", 0.5))

Key = tuple[str, int]


class Publisher:
    """Coalesces changes on one event loop. Every method runs on that loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float | None = None):
        self.loop = loop
        self.interval = NODE_INTERVAL if interval is None else interval
        self.dirty: dict[Key, None] = {}  # insertion-ordered set
        self.last_sent: dict[Key, float] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task | None = None
        self.messages_sent = 0

    def mark(self, kind: str, ident: int) -> None:
        self.dirty[(kind, ident)] = None
        self._arm()

    def _arm(self) -> None:
        if self.task is not None or self.timer is not None or not self.dirty:
            return
        now = time.monotonic()
        due = min(self.last_sent.get(key, float("-inf")) + self.interval for key in self.dirty)
        self.timer = self.loop.call_later(max(0.0, due - now), self._start)

    def _start(self) -> None:
        self.timer = None
        self.task = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        now = time.monotonic()
        ready = [key for key in self.dirty if self.last_sent.get(key, float("-inf")) + self.interval <= now + 1e-3]
        for key in ready:
            del self.dirty[key]
            self.last_sent[key] = now
        try:
            messages = await db.run(db.PUBLISH, build_messages, ready)
            layer = get_channel_layer()
            for group, data in messages:
                await layer.group_send(group, {"type": "live.update", "group": group, "data": data})
                self.messages_sent += 1
        except Exception:
            log.exception("live update of %s failed", ready)
        finally:
            # Forget what is past its interval, so the table holds only recently changed things.
            self.last_sent = {k: t for k, t in self.last_sent.items() if t + self.interval > now}
            self.task = None
            self._arm()


_lock = threading.Lock()
_consumer_loop: asyncio.AbstractEventLoop | None = None
_background_loop: asyncio.AbstractEventLoop | None = None
_publishers: dict[asyncio.AbstractEventLoop, Publisher] = {}


def attach(loop: asyncio.AbstractEventLoop) -> None:
    """Called by each websocket consumer on connect: messages for this process's clients go out on `loop`."""
    global _consumer_loop
    _consumer_loop = loop


def publisher_for(loop: asyncio.AbstractEventLoop) -> Publisher:
    """The publisher of `loop` (call on that loop)."""
    publisher = _publishers.get(loop)
    if publisher is None:
        for old in [lp for lp in _publishers if lp.is_closed()]:
            del _publishers[old]
        publisher = _publishers[loop] = Publisher(loop)
    return publisher


def _start_background_loop() -> asyncio.AbstractEventLoop:
    global _background_loop
    with _lock:
        if _background_loop is None or _background_loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="microdc-live-publisher", daemon=True)
            thread.start()
            _background_loop = loop
        return _background_loop


def target_loop() -> asyncio.AbstractEventLoop | None:
    loop = _consumer_loop
    if loop is not None and loop.is_running() and not loop.is_closed():
        return loop
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return None  # no one here listens, and this layer reaches no other process
    return _start_background_loop()


def _mark(loop: asyncio.AbstractEventLoop, kind: str, ident: int) -> None:
    publisher_for(loop).mark(kind, ident)


def on_change(kind: str, ident: int) -> None:
    """telemetry.live listener: runs in the writer's thread, right after its commit; only schedules work."""
    loop = target_loop()
    if loop is None:
        return
    # An empty context: the writer's (a request's thread-sensitive executor, asgiref's deadlock guard) must not
    # follow the work onto the loop, where it would outlive the request.
    # RuntimeError: the loop closed between the check and the call (a server shutting down).
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_mark, loop, kind, ident, context=contextvars.Context())
