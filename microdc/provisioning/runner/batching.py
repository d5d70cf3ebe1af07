"""Batch events for storage: one write per batch, not per event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class EventBatcher:
    """Use as the ``on_event`` callback; calls ``flush_to(events)`` every ``max_events`` events or
    when the oldest pending event is ``max_delay`` seconds old (checked on the next event), and once
    more on ``close()``. The job service stores each batch in one transaction and streams it after
    commit."""

    def __init__(self, flush_to: Callable[[list[dict[str, Any]]], None], max_events: int = 100,
                 max_delay: float = 0.5) -> None:
        self.flush_to = flush_to
        self.max_events = max_events
        self.max_delay = max_delay
        self._pending: list[dict[str, Any]] = []
        self._first_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            if not self._pending:
                self._first_at = time.monotonic()
            self._pending.append(event)
            due = len(self._pending) >= self.max_events or time.monotonic() - self._first_at >= self.max_delay
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self.flush_to(batch)

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> EventBatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
