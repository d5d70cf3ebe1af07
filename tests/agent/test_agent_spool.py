"""SQLite spool: send order, bounded with drop-oldest, persistence across restarts."""

from __future__ import annotations

import json
import logging

from microdc.agent.sample import new_batch
from microdc.agent.spool import Spool


def batch(n: int, pad: int = 0) -> dict:
    return new_batch("node-1", [{"ts": f"2026-11-27T03:40:{n:02d}.000000+00:00", "devices": [], "sensors": [],
                                 "pad": "x" * pad}])


def drain(spool: Spool) -> list[dict]:
    out = []
    while (item := spool.peek()) is not None:
        out.append(json.loads(item.payload))
        assert out[-1]["batch_id"] == item.batch_id
        spool.delete(item.seq)
    return out


def test_batches_come_out_oldest_first_unchanged(tmp_path, make_spool):
    spool = make_spool(tmp_path / "spool.sqlite3")
    batches = [batch(i) for i in range(5)]
    for b in batches:
        assert spool.put(b) == 0
    assert len(spool) == 5
    assert drain(spool) == batches
    assert len(spool) == 0 and spool.peek() is None


def test_peek_without_delete_returns_the_same_batch(tmp_path, make_spool):
    """A failed send leaves the batch at the head: the resend carries the same batch_id."""
    spool = make_spool(tmp_path / "spool.sqlite3")
    spool.put(batch(1))
    spool.put(batch(2))
    assert spool.peek() == spool.peek()


def test_full_spool_drops_the_oldest_with_a_counted_warning(tmp_path, caplog, make_spool):
    spool = make_spool(tmp_path / "spool.sqlite3", max_batches=3)
    batches = [batch(i) for i in range(5)]
    with caplog.at_level(logging.WARNING, logger="microdc.agent"):
        dropped = [spool.put(b) for b in batches]
    assert dropped == [0, 0, 0, 1, 1]
    assert spool.dropped_total == 2
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("spool full: dropped 1 oldest batches") and "2 dropped since start" in messages[1]
    assert drain(spool) == batches[2:]


def test_byte_bound_drops_as_many_old_batches_as_needed(tmp_path, caplog, make_spool):
    size = len(json.dumps(batch(0, pad=1000), separators=(",", ":")))
    spool = make_spool(tmp_path / "spool.sqlite3", max_batches=100, max_bytes=4 * size)
    small = [batch(i, pad=1000) for i in range(4)]
    for b in small:
        spool.put(b)
    big = batch(9, pad=2500)  # needs the room of three small ones
    with caplog.at_level(logging.WARNING, logger="microdc.agent"):
        assert spool.put(big) == 3
    assert "spool full: dropped 3 oldest batches" in caplog.text
    assert spool.total_bytes() <= 4 * size
    assert drain(spool) == [small[3], big]


def test_a_single_batch_larger_than_the_bound_is_still_kept(tmp_path, make_spool):
    spool = make_spool(tmp_path / "spool.sqlite3", max_bytes=100)
    spool.put(batch(1))
    b = batch(2, pad=500)
    assert spool.put(b) == 1
    assert drain(spool) == [b]


def test_spool_survives_a_restart(tmp_path, make_spool):
    path = tmp_path / "state" / "spool.sqlite3"  # parent directories are created
    spool = make_spool(path)
    batches = [batch(i) for i in range(4)]
    for b in batches:
        spool.put(b)
    first = spool.peek()
    spool.delete(first.seq)
    spool.close()
    reopened = make_spool(path)
    assert len(reopened) == 3
    assert drain(reopened) == batches[1:]


def test_order_continues_across_restart(tmp_path, make_spool):
    path = tmp_path / "spool.sqlite3"
    spool = make_spool(path)
    before = [batch(i) for i in range(3)]
    for b in before:
        spool.put(b)
    spool.close()
    reopened = make_spool(path)
    after = batch(9)
    reopened.put(after)
    assert drain(reopened) == before + [after]
