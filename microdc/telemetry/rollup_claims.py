"""Which rollup runner rolls up which source: a runner claims a source's dirty mark under a lease, then
finishes the claim, or releases it when it did not get to the source, or fails it (backoff) when it broke.

Writers mark a source dirty with its earliest new sample (store.py, the earliest kept in SQL). Claiming moves
that mark into `rollup_claimed_since`, so samples arriving during the run mark the source dirty afresh and are
rolled up by the next run. Releasing or failing puts the claimed mark back (the earlier of both). A runner that
died leaves a lease that expires; the next claim takes its mark over. Runners never wait for each other:
PostgreSQL skips rows another runner is claiming (SKIP LOCKED), and every claim is re-checked in its UPDATE,
which on SQLite (one writer at a time) is what decides.
"""

import datetime
import uuid

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Least

from .models import Source

# Longer than any one run takes; a runner that dies holds its sources this long at most.
LEASE = datetime.timedelta(minutes=10)
RETRY_FIRST = datetime.timedelta(seconds=30)
RETRY_MAX = datetime.timedelta(hours=1)


def earliest(a, b):
    """The earlier of two nullable datetime expressions, null only when both are (Least alone is null when
    either is, on SQLite)."""
    return Least(Coalesce(a, b), Coalesce(b, a))


def pending_since():
    """The oldest sample of a source not rolled up yet, whether marked dirty or claimed by a runner."""
    return earliest(F("dirty_since"), F("rollup_claimed_since"))


def _claimable(queryset, now: datetime.datetime):
    return (queryset.filter(Q(dirty_since__isnull=False) | Q(rollup_claimed_since__isnull=False))
            .filter(Q(rollup_lease_until__isnull=True) | Q(rollup_lease_until__lt=now))
            .filter(Q(rollup_retry_at__isnull=True) | Q(rollup_retry_at__lte=now)))


def claim(candidates, limit: int, now: datetime.datetime) -> list[Source]:
    """Claim up to `limit` of `candidates` (a Source queryset; None: all sources) that need rolling up and no
    other runner holds, oldest mark first. Each returned source's `rollup_claimed_since` is where to roll up
    from."""
    token = uuid.uuid4()
    with transaction.atomic():
        # A plain filter on the table itself: FOR UPDATE can't lock through a caller's outer joins.
        mine = Source.objects.all() if candidates is None else Source.objects.filter(pk__in=candidates.values("pk"))
        ids = list(_claimable(mine, now).order_by(pending_since().asc())
                   .select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        _claimable(Source.objects.filter(pk__in=ids), now).update(
            rollup_claimed_since=pending_since(), dirty_since=None, rollup_claim=token,
            rollup_lease_until=now + LEASE)
        return list(Source.objects.filter(rollup_claim=token))


def _held(source: Source):
    # Only while the claim is still ours: after a lease ran out another runner may hold the source.
    return Source.objects.filter(pk=source.pk, rollup_claim=source.rollup_claim)


class ClaimLost(Exception):
    """The lease ran out and another runner holds the source now: what this runner computed is stale."""


def finish(source: Source) -> None:
    """The claimed mark is rolled up. Run it in the transaction that wrote the rollups, so that they are
    undone (ClaimLost) when the claim is no longer this runner's."""
    if not _held(source).update(rollup_claimed_since=None, rollup_claim=None, rollup_lease_until=None,
                                rollup_failures=0, rollup_error="", rollup_retry_at=None):
        raise ClaimLost(f"source {source.pk} is claimed by another runner now")


def finish_all(sources: list[Source]) -> None:
    """finish() for sources of one claim (one claim() call) in one statement; ClaimLost when any of them is no
    longer held by it."""
    held = Source.objects.filter(pk__in=[source.pk for source in sources], rollup_claim=sources[0].rollup_claim)
    if held.update(rollup_claimed_since=None, rollup_claim=None, rollup_lease_until=None, rollup_failures=0,
                   rollup_error="", rollup_retry_at=None) != len(sources):
        raise ClaimLost("a source of this group is claimed by another runner now")


def release(source: Source) -> None:
    """Give the claim back untouched (the run stopped before this source): the next run takes it."""
    _held(source).update(dirty_since=pending_since(), rollup_claimed_since=None, rollup_claim=None,
                         rollup_lease_until=None)


def retry_delay(failures: int) -> datetime.timedelta:
    return min(RETRY_FIRST * 2 ** (failures - 1), RETRY_MAX)


def fail(source: Source, error: str, now: datetime.datetime) -> datetime.datetime:
    """Give the claim back after an error; the source is left alone until its retry time. Returns it."""
    failures = source.rollup_failures + 1
    retry_at = now + retry_delay(failures)
    _held(source).update(dirty_since=pending_since(), rollup_claimed_since=None, rollup_claim=None,
                         rollup_lease_until=None, rollup_failures=failures, rollup_error=error[:1000],
                         rollup_retry_at=retry_at)
    return retry_at
