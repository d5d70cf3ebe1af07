"""The dashboard's websocket: an authenticated session subscribes to the groups of what it shows.

Client -> server: ``{"subscribe": [groups]}``, ``{"unsubscribe": [groups]}``; groups are ``site.<id>``,
``rack.<id>``, ``node.<id>``, ``job.<id>``, ``deployment.<id>``, of objects that exist (``access.joinable``).
A user holds at most MICRODC_LIVE_MAX_CONNECTIONS_PER_USER connections across all web processes
(``connections``); one more is closed with CLOSE_TOO_MANY.
Server -> client: ``{"type": "subscribed", "groups": [...]}``, ``{"type": "update", "group": g, "data": {...}}``,
``{"type": "error", "detail": "..."}``.

Updates are coalesced per connection: the first goes out at once, later ones within ``SEND_INTERVAL`` are
merged per group (``coalesce.merge``) and sent together, so however busy the site, one browser gets at most
one frame per group per interval.

Job events reach a job group two ways (the provisioning app's messages, and the job watch reading what the
worker stored); each connection sends every event once, in counter order.
"""

import asyncio
import contextlib
import logging
import re
import time

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import access, connections, db, publisher, watches
from .coalesce import merge

log = logging.getLogger(__name__)

GROUP_PATTERN = re.compile(r"^(site|rack|node|job|deployment|alerts)\.[0-9]{1,18}$")
MAX_GROUPS = 64
SEND_INTERVAL = float(getattr(settings, "MICRODC_LIVE_SEND_INTERVAL", 0.25))
CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_MANY = 4429


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.slot = await db.run(db.ACCESS, connections.take, user.pk, self.channel_name)
        if self.slot is None:
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.slot_renewal = asyncio.get_running_loop().create_task(self._renew_slot())
        self.groups_joined: set[str] = set()
        self.pending: dict[str, dict] = {}
        self.last_flush = float("-inf")
        self.flush_timer: asyncio.TimerHandle | None = None
        self.flush_task: asyncio.Task | None = None
        self.paced_tasks: set[asyncio.Task] = set()
        self.events_sent: dict[str, int] = {}  # job group -> highest event counter sent
        self.open = True
        publisher.attach(asyncio.get_running_loop())
        await self.accept()

    async def disconnect(self, code):
        self.open = False
        if getattr(self, "flush_timer", None) is not None:
            self.flush_timer.cancel()
        for group in getattr(self, "groups_joined", ()):
            watches.leave(self, group)
            await self.channel_layer.group_discard(group, self.channel_name)
        if getattr(self, "slot", None) is not None:
            self.slot_renewal.cancel()
            await db.run(db.ACCESS, connections.release, self.slot, self.channel_name)
            self.slot = None

    async def _renew_slot(self) -> None:
        while True:
            await asyncio.sleep(connections.RENEW_SECONDS)
            try:
                await db.run(db.ACCESS, connections.renew, self.slot, self.channel_name)
            except Exception:
                log.exception("renewing the live connection slot %s failed", self.slot)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "detail": "Send a JSON object."})
            return
        wanted = content.get("subscribe", [])
        dropped = content.get("unsubscribe", [])
        if not isinstance(wanted, list) or not isinstance(dropped, list):
            await self.send_json({"type": "error", "detail": "subscribe/unsubscribe take a list of groups."})
            return
        bad = [g for g in wanted + dropped if not isinstance(g, str) or not GROUP_PATTERN.match(g)]
        if bad:
            await self.send_json({"type": "error", "detail": f"Unknown group names: {bad[:5]} (expected "
                                                             "site.<id>, rack.<id>, node.<id>, job.<id> or "
                                                             "deployment.<id>)"})
            return
        for group in dropped:
            if group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
                self.groups_joined.discard(group)
                self.pending.pop(group, None)
                watches.leave(self, group)
        new = [group for group in dict.fromkeys(wanted) if group not in self.groups_joined]
        room = max(0, MAX_GROUPS - len(self.groups_joined))
        new, refused = new[:room], new[room:]  # checked against the database only up to the limit
        allowed = await db.run(db.ACCESS, access.joinable, self.scope["user"], new) if new else set()
        if unknown := [group for group in new if group not in allowed]:
            await self.send_json({"type": "error", "detail": f"No such object, or not yours to see: {unknown[:5]}"})
        for group in new:
            if group in allowed:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.add(group)
                await watches.join(self, group)
        if refused:
            await self.send_json({"type": "error", "detail": f"At most {MAX_GROUPS} groups per connection; "
                                                             f"not joined: {refused[:5]}"})
        await self.send_json({"type": "subscribed", "groups": sorted(self.groups_joined)})

    async def live_update(self, event):
        """Messages sent with group_send(group, {"type": "live.update", "group": ..., "data": {...}})."""
        group, data = event["group"], event["data"]
        if group.startswith("site.") and ("nodes" in data or "meters" in data):
            watches.nudge(group)  # counts and alarms follow soon
        self.deliver(group, data)

    def deliver(self, group: str, data: dict, paced: bool = False) -> None:
        """Queue an update for this browser; sent at once, or merged into the next send within the interval.

        `paced`: the sender already limits its rate (a watch's refresh, every few seconds at most); it goes out
        at once and leaves the interval alone, so a summary never delays the node update right behind it."""
        if not self.open or group not in self.groups_joined:
            return  # arrived after an unsubscribe or a disconnect
        if paced:
            self.paced_tasks.add(task := asyncio.get_running_loop().create_task(self._send_paced(group, data)))
            task.add_done_callback(self.paced_tasks.discard)
            return
        merge(self.pending.setdefault(group, {}), data)
        if self.flush_timer is None and self.flush_task is None:
            delay = max(0.0, self.last_flush + SEND_INTERVAL - time.monotonic())
            self.flush_timer = asyncio.get_running_loop().call_later(delay, self._start_flush)

    def _unsent(self, group: str, data: dict) -> dict | None:
        """`data` without job events this connection already sent (None when nothing is left to send)."""
        if "events" not in data or not isinstance(data["events"], list):
            return data
        high = self.events_sent.get(group, 0)
        fresh = {}
        for event in data["events"]:
            counter = event.get("counter") if isinstance(event, dict) else None
            if isinstance(counter, int) and counter > high:
                fresh.setdefault(counter, event)
        if fresh:
            self.events_sent[group] = max(fresh)
        elif set(data) == {"events"}:
            return None
        return {**data, "events": [fresh[c] for c in sorted(fresh)]}

    async def _send(self, group: str, data: dict) -> None:
        data = self._unsent(group, data)
        if data is not None and self.open:
            await self.send_json({"type": "update", "group": group, "data": data})

    async def _send_paced(self, group: str, data: dict) -> None:
        with contextlib.suppress(Exception):  # the browser went away; its disconnect follows
            await self._send(group, data)

    def _start_flush(self) -> None:
        self.flush_timer = None
        self.flush_task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            self.last_flush = time.monotonic()
            pending, self.pending = self.pending, {}
            for group, data in pending.items():
                await self._send(group, data)
        except Exception:
            # The browser went away mid-send (its disconnect is on its way): drop what was queued for it.
            self.open = False
            self.pending = {}
        finally:
            self.flush_task = None
            if self.pending and self.open:
                delay = max(0.0, self.last_flush + SEND_INTERVAL - time.monotonic())
                self.flush_timer = asyncio.get_running_loop().call_later(delay, self._start_flush)
