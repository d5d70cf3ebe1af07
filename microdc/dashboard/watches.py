"""Periodic refreshes of the groups this process's clients watch, handed to those clients directly.

Some changes announce nothing in this process: meter readings stored by the worker, a node going silent, a PUE
window moving on, job events written by the worker when the in-memory layer cannot carry them across, the energy
ledger the worker updates, the alerts the worker evaluates. For each ``site.<id>``, ``job.<id>``,
``deployment.<id>`` and ``alerts.<site id>`` group that at least one
client of this process has joined, one task re-reads the database every few seconds and delivers the result to
those clients. It bypasses the channel layer on purpose: every web process refreshes for its own clients from the
same database, so nothing is sent twice.

A node message on a site group ``nudge``s that site's watch: its counts and alarms are recomputed within
``NUDGE_GAP`` seconds instead of waiting for the next turn, so "0 down" and "agent silent" never disagree long.
"""

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Protocol

from django.conf import settings

from microdc.alerts import selectors as alert_selectors

from . import db, energy, provisioning
from .summary import site_summary

log = logging.getLogger(__name__)

SITE_INTERVAL = float(getattr(settings, "MICRODC_LIVE_SITE_INTERVAL", 5.0))
JOB_INTERVAL = float(getattr(settings, "MICRODC_LIVE_JOB_INTERVAL", 1.0))
ENERGY_INTERVAL = settings.MICRODC_LIVE_ENERGY_INTERVAL
ALERTS_INTERVAL = 2.0  # one cheap query (the newest change) per look
NUDGE_GAP = 2.0


class Client(Protocol):
    def deliver(self, group: str, data: dict, paced: bool = False) -> None: ...


def _in_thread(fn: Callable, *args):
    return db.run(db.REFRESH, fn, *args)


class SiteRefresh:
    interval = SITE_INTERVAL
    repeat_last = True  # a client joining late gets the current summary at once

    def __init__(self, site_id: int):
        self.site_id = site_id

    async def start(self) -> None:
        return None

    def __call__(self, fresh: bool = False) -> dict | None:
        summary = site_summary(self.site_id, fresh=fresh)
        return {"summary": summary} if summary is not None else None


class JobRefresh:
    """New events of a job since the last look (by counter), and its status when it changes."""

    interval = JOB_INTERVAL
    repeat_last = False  # events are a stream; the page loads the earlier ones itself

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.after = 0
        self.status: str | None = None

    def _baseline(self) -> None:
        self.status = provisioning.job_status(self.job_id)
        self.after = provisioning.last_event_counter(self.job_id)

    async def start(self) -> None:
        # Taken before the client is told it joined: whatever the page missed after this point, the watch sends;
        # whatever came before, the page fetches once it is told (see job.js).
        await _in_thread(self._baseline)

    def __call__(self, fresh: bool = False) -> dict | None:
        # Status first: a worker writes a job's last events before its final status, so a finished status is
        # never shown ahead of output it has not shown.
        status = provisioning.job_status(self.job_id)
        events = provisioning.new_job_events(self.job_id, after=self.after) or []
        if not events and status == self.status:
            return None
        if events:
            self.after = events[-1]["counter"]
        self.status = status
        return {"events": events, "status": status or "unknown"}


class DeploymentRefresh:
    """A deployment's energy figures (1 h / 24 h / 30 d), sent when the ledger (updated every 30 s) moved them."""

    interval = ENERGY_INTERVAL
    repeat_last = True

    def __init__(self, deployment_id: int):
        self.deployment_id = deployment_id
        self.sent: dict | None = None

    async def start(self) -> None:
        return None

    def __call__(self, fresh: bool = False) -> dict | None:
        deployment = provisioning.model("Deployment").objects.filter(pk=self.deployment_id).first()
        if deployment is None:
            return None
        figures = energy.deployment_windows(deployment)
        # The windows' ends move every call; what matters to a screen is whether a figure did.
        comparable = {w: {**v, "start": None, "end": None} for w, v in figures["windows"].items()}
        if comparable == self.sent:
            return None
        self.sent = comparable
        return {"energy": figures}


class AlertsRefresh:
    """A site's alert board, sent when any of its alerts changed (the evaluator runs in the worker)."""

    interval = ALERTS_INTERVAL
    repeat_last = True

    def __init__(self, site_id: int):
        self.site_id = site_id
        self.seen: str | None = None

    async def start(self) -> None:
        return None

    def __call__(self, fresh: bool = False) -> dict | None:
        current = alert_selectors.stamp(self.site_id)
        if current == self.seen and not fresh:
            return None
        self.seen = current
        return {"board": alert_selectors.board(self.site_id)}


def refresher_for(group: str):
    kind, _, ident = group.partition(".")
    if kind == "site":
        return SiteRefresh(int(ident))
    if kind == "alerts":
        return AlertsRefresh(int(ident))
    if kind == "job" and provisioning.model("JobEvent") is not None:
        return JobRefresh(int(ident))
    if kind == "deployment" and provisioning.model("Deployment") is not None:
        return DeploymentRefresh(int(ident))
    return None


class Watch:
    def __init__(self, group: str, refresh):
        self.group = group
        self.refresh = refresh
        self.clients: set[Client] = set()
        self.last: dict | None = None
        self.loop = asyncio.get_running_loop()
        self.task: asyncio.Task | None = None
        self.wake = asyncio.Event()
        self.nudged = False

    def start(self) -> None:
        # A context of its own: the task outlives the message that started it.
        self.task = self.loop.create_task(self._run(), context=contextvars.Context())

    def nudge(self) -> None:
        self.nudged = True
        self.wake.set()

    async def _run(self) -> None:
        while self.clients:
            started = self.loop.time()
            fresh, self.nudged = self.nudged, False
            self.wake.clear()
            try:
                data = await _in_thread(self.refresh, fresh)
            except Exception:
                log.exception("refresh of %s failed", self.group)
                data = None
            if data:
                self.last = data
                for client in list(self.clients):
                    client.deliver(self.group, data, paced=True)
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.refresh.interval)
            except TimeoutError:
                continue
            # Nudged: refresh soon, but not more often than every NUDGE_GAP seconds however busy the site.
            await asyncio.sleep(max(0.0, started + NUDGE_GAP - self.loop.time()))


_watches: dict[str, Watch] = {}


async def join(client: Client, group: str) -> None:
    watch = _watches.get(group)
    if watch is not None and (watch.loop is not asyncio.get_running_loop()
                              or (watch.task is not None and watch.task.done())):
        watch = None  # left behind by a loop that is gone (tests) or a task that ended
    if watch is not None:
        watch.clients.add(client)
        if watch.refresh.repeat_last and watch.last is not None:
            client.deliver(group, watch.last, paced=True)
        return
    refresh = refresher_for(group)
    if refresh is None:
        return
    watch = _watches[group] = Watch(group, refresh)
    watch.clients.add(client)
    await refresh.start()
    # Everyone may have left while the baseline was read; then leave() already dropped the watch.
    if watch.clients and _watches.get(group) is watch:
        watch.start()


def nudge(group: str) -> None:
    """Something in `group` changed: refresh it soon (for site groups; job groups follow their own events)."""
    watch = _watches.get(group)
    if watch is not None and watch.loop is asyncio.get_running_loop():
        watch.nudge()


def leave(client: Client, group: str) -> None:
    watch = _watches.get(group)
    if watch is None:
        return
    watch.clients.discard(client)
    if not watch.clients:
        if watch.task is not None:
            watch.task.cancel()
        del _watches[group]
