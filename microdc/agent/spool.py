"""Local SQLite spool: every batch is written here first and deleted only once the appliance has taken it
(2xx) or rejected it for good (400/413/422). Survives restarts; drains oldest-first.

Bounded by batch count and bytes; when full the OLDEST batches are dropped with a counted warning, so a
long outage loses the far past rather than the present.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,  -- send order
    batch_id TEXT    NOT NULL UNIQUE,            -- idempotency key, kept across resends
    created  REAL    NOT NULL,
    samples  INTEGER NOT NULL,
    nbytes   INTEGER NOT NULL,
    payload  TEXT    NOT NULL                    -- the exact JSON body that is POSTed
)
"""


@dataclass(frozen=True)
class SpooledBatch:
    seq: int
    batch_id: str
    samples: int
    payload: str


class Spool:
    def __init__(
        self, path: str | Path, max_batches: int = 10_000, max_bytes: int = 256 * 1024 * 1024
    ) -> None:
        self.path = Path(path)
        self.max_batches = max_batches
        self.max_bytes = max_bytes
        self.dropped_total = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one connection shared by the collector and sender threads, serialised by the lock
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: an agent crash loses nothing; a power cut may lose the last commit
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)

    def put(self, batch: dict[str, Any]) -> int:
        """Append a batch atomically; return how many old batches were dropped to stay within bounds."""
        payload = json.dumps(batch, separators=(",", ":"), allow_nan=False)
        nbytes = len(payload.encode())
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "INSERT INTO batches (batch_id, created, samples, nbytes, payload)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (batch["batch_id"], time.time(), len(batch.get("samples", ())), nbytes, payload),
                )
                newest = cur.lastrowid
                dropped, dropped_samples = self._enforce_bounds(cur, newest)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        if dropped:
            self.dropped_total += dropped
            log.warning(
                "spool full: dropped %d oldest batches (%d samples; %d dropped since start;"
                " limits %d batches, %d bytes)",
                dropped, dropped_samples, self.dropped_total, self.max_batches, self.max_bytes,
            )
        return dropped

    def _enforce_bounds(self, cur: sqlite3.Cursor, newest: int | None) -> tuple[int, int]:
        count, total = cur.execute("SELECT COUNT(*), COALESCE(SUM(nbytes), 0) FROM batches").fetchone()
        if count <= self.max_batches and total <= self.max_bytes:
            return 0, 0
        last_seq = None
        dropped = dropped_samples = 0
        # the batch just written always stays, even if it alone exceeds max_bytes
        rows = cur.execute("SELECT seq, nbytes, samples FROM batches WHERE seq != ? ORDER BY seq", (newest,))
        for seq, nbytes, samples in rows:
            if count <= self.max_batches and total <= self.max_bytes:
                break
            last_seq = seq
            count -= 1
            total -= nbytes
            dropped += 1
            dropped_samples += samples
        if last_seq is not None:
            cur.execute("DELETE FROM batches WHERE seq <= ? AND seq != ?", (last_seq, newest))
        return dropped, dropped_samples

    def peek(self) -> SpooledBatch | None:
        """The oldest batch, or None when the spool is empty."""
        with self._lock:
            row = self._conn.execute(
                "SELECT seq, batch_id, samples, payload FROM batches ORDER BY seq LIMIT 1"
            ).fetchone()
        return SpooledBatch(*row) if row else None

    def delete(self, seq: int) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM batches WHERE seq = ?", (seq,))

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0]

    def total_bytes(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COALESCE(SUM(nbytes), 0) FROM batches").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
