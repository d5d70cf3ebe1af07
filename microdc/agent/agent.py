"""The agent loop: collect every ``interval`` into the spool; a sender thread drains the spool in order.

Collection never waits on the network: while the appliance is unreachable batches pile up in the spool
(bounded) and are backfilled oldest-first, with their original batch_id, once it answers again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from microdc.agent.collectors import build_collectors
from microdc.agent.collectors.base import Collector
from microdc.agent.config import AgentConfig
from microdc.agent.power_limits import DesiredLimits, LimitSetter
from microdc.agent.sample import collect_sample, new_batch
from microdc.agent.spool import Spool

log = logging.getLogger(__name__)

OUTAGE_REMINDER_SECONDS = 300.0


@dataclass
class AgentStats:
    samples_collected: int = 0
    batches_spooled: int = 0
    batches_sent: int = 0
    batches_rejected: int = 0  # dropped after 400/413/422
    batches_dropped: int = 0  # dropped oldest because the spool was full
    send_failures: int = 0  # attempts that will be retried


def collect_once(config: AgentConfig, collectors: Sequence[Collector] | None = None,
                 now: float | None = None) -> dict[str, Any]:
    """One collection as printed by ``microdc-agent --once --json``: a sample plus ``node`` and each
    collector's status. No network, no spool."""
    owned = collectors is None
    active = list(collectors) if collectors is not None else build_collectors(config)
    try:
        sample, statuses = collect_sample(active, time.time() if now is None else now)
        out: dict[str, Any] = {"node": config.node, **sample, "collectors": statuses}
        if config.nvml_raw:
            raw = next((getattr(c, "last_raw", None) for c in active if c.name == "nvml"), None)
            if raw is not None:
                out["nvml_raw"] = raw
        return out
    finally:
        if owned:
            for c in active:
                c.close()


class Agent:
    """``Agent(config).run_forever(stop_event)`` runs until ``stop_event`` is set (in a thread of your
    own for in-process use), then spools what it holds, tries a last send and returns."""

    def __init__(self, config: AgentConfig, collectors: Sequence[Collector] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.stats = AgentStats()
        self.collector_status: dict[str, str] = {}
        self._collectors = list(collectors) if collectors is not None else None
        self._clock = clock
        self._wake = threading.Event()
        self._outage_since: float | None = None  # monotonic time the appliance stopped answering
        self._last_warning = 0.0
        self.desired_limits = DesiredLimits()  # filled by the sender from the appliance's replies

    def start(self, stop_event: threading.Event) -> threading.Thread:
        """``run_forever`` in a daemon thread (the demo's simulated nodes); set ``stop_event`` and join."""
        thread = threading.Thread(target=self.run_forever, args=(stop_event,), daemon=True,
                                  name=f"microdc-agent[{self.config.node}]")
        thread.start()
        return thread

    # -- collecting ------------------------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event | None = None) -> None:
        from microdc.agent.sender import Uploader  # httpx only where the agent pushes

        cfg = self.config
        stop = stop_event or threading.Event()
        uploader = Uploader(cfg)  # validates the URL before anything runs
        spool = Spool(cfg.spool_path, cfg.spool_max_batches, cfg.spool_max_bytes)
        collectors = self._collectors if self._collectors is not None else build_collectors(cfg)
        backlog = len(spool)
        log.info("microdc-agent for node %s: pushing to %s every %.3g s (collectors: %s; spool %s, %d "
                 "batches waiting)", cfg.node, uploader.url, cfg.interval,
                 ", ".join(c.name for c in collectors), cfg.spool_path, backlog)
        sender_stop = threading.Event()
        sender = threading.Thread(target=self._send_loop, args=(spool, uploader, sender_stop),
                                  name=f"microdc-agent-sender[{cfg.node}]", daemon=True)
        sender.start()
        pending: list[dict[str, Any]] = []
        try:
            next_due = time.monotonic()
            while not stop.is_set():
                now_wall = self._clock()
                self._apply_power_limits(collectors, now_wall)
                sample, self.collector_status = collect_sample(collectors, now_wall)
                self.stats.samples_collected += 1
                pending.append(sample)
                if len(pending) >= cfg.batch_samples:
                    self._spool(spool, pending)
                    pending = []
                now = time.monotonic()
                next_due += cfg.interval
                while next_due <= now:  # a slow collection: skip the missed ticks, keep the phase
                    next_due += cfg.interval
                stop.wait(next_due - now)
        finally:
            if pending:
                self._spool(spool, pending)
            sender_stop.set()
            self._wake.set()
            sender.join(timeout=cfg.shutdown_timeout + cfg.http_timeout + 5)
            left = len(spool)
            uploader.close()
            spool.close()
            for c in collectors:
                c.close()
            log.info("microdc-agent stopped: %d samples collected, %d batches sent, %d left in the spool",
                     self.stats.samples_collected, self.stats.batches_sent, left)

    def _apply_power_limits(self, collectors: Sequence[Collector], now: float) -> None:
        desired = self.desired_limits.current()
        if desired is None:
            return
        for collector in collectors:
            if isinstance(collector, LimitSetter):
                try:
                    collector.apply_power_limits(desired, now)
                except Exception:  # noqa: BLE001 - a failing setter must not stop collection
                    log.exception("collector %s failed to apply power limits", collector.name)

    def _spool(self, spool: Spool, samples: list[dict[str, Any]]) -> None:
        try:
            dropped = spool.put(new_batch(self.config.node, samples))
        except (sqlite3.Error, OSError, ValueError) as exc:  # disk full, unwritable path: keep collecting
            self.stats.batches_dropped += 1
            log.error("cannot write the spool %s (%s): batch of %d samples lost",
                      self.config.spool_path, exc, len(samples))
            return
        self.stats.batches_spooled += 1
        self.stats.batches_dropped += dropped
        self._wake.set()

    # -- sending ---------------------------------------------------------------------------------

    def _send_loop(self, spool: Spool, uploader: Any, stop: threading.Event) -> None:
        from microdc.agent.sender import Backoff

        backoff = Backoff(self.config.backoff_initial, self.config.backoff_max)
        self._outage_since = None
        self._last_warning = 0.0
        while not stop.is_set():
            try:
                delay = self._send_next(spool, uploader, backoff)
            except Exception:  # noqa: BLE001 - the sender thread must outlive any one failure
                log.exception("telemetry sender failed; retrying")
                delay = backoff.next_delay()
            if delay is None:  # spool empty: wait for the next batch
                self._wake.wait(1.0)
                self._wake.clear()
            elif delay > 0:
                stop.wait(delay)
        try:
            self._final_drain(spool, uploader)
        except Exception:  # noqa: BLE001
            log.exception("final send at shutdown failed; the spool keeps the batches")

    def _send_next(self, spool: Spool, uploader: Any, backoff: Any) -> float | None:
        """Send the oldest spooled batch. Returns None when the spool is empty, else seconds to wait."""
        from microdc.agent.sender import Outcome

        item = spool.peek()
        if item is None:
            return None
        result = uploader.post(item.payload)
        if result.outcome is Outcome.RETRY:
            self.stats.send_failures += 1
            now = time.monotonic()
            if self._outage_since is None or now - self._last_warning >= OUTAGE_REMINDER_SECONDS:
                level = logging.ERROR if result.status_code in (401, 403, 404) else logging.WARNING
                log.log(level, "cannot push telemetry to %s (%s); keeping %d batches spooled, retrying",
                        uploader.url, result.describe(), len(spool))
                self._last_warning = now
                self._outage_since = self._outage_since or now
            return backoff.next_delay(result.retry_after)
        spool.delete(item.seq)
        backoff.reset()
        if result.outcome is Outcome.SENT:
            self.stats.batches_sent += 1
            self.desired_limits.update_from_reply(result.reply)
        else:
            self.stats.batches_rejected += 1
            log.error("appliance rejected batch %s (%s); dropped it (%d rejected so far)",
                      item.batch_id, result.describe(), self.stats.batches_rejected)
        if self._outage_since is not None:
            log.warning("appliance reachable again after %.0f s; backfilling %d spooled batches",
                        time.monotonic() - self._outage_since, len(spool))
            self._outage_since = None
        return 0.0

    def _final_drain(self, spool: Spool, uploader: Any) -> None:
        """On shutdown: send what is spooled until done, the first failure, or shutdown_timeout."""
        from microdc.agent.sender import Outcome

        deadline = time.monotonic() + self.config.shutdown_timeout
        while (left := deadline - time.monotonic()) > 0:
            item = spool.peek()
            if item is None:
                return
            result = uploader.post(item.payload, timeout=min(left, self.config.http_timeout))
            if result.outcome is Outcome.RETRY:
                return
            spool.delete(item.seq)
            if result.outcome is Outcome.SENT:
                self.stats.batches_sent += 1
            else:
                self.stats.batches_rejected += 1
                log.error("appliance rejected batch %s (%s); dropped it", item.batch_id, result.describe())
