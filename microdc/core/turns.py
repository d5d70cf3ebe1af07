"""Which worker runs a periodic job's next turn when several workers run the same job list.

Every job has one row (JobTurn): when its next turn is due, and who holds the current one until when. A worker
takes a due turn with one conditional UPDATE that re-checks the due time and the lease in its WHERE, so of two
workers asking at once exactly one gets it: on PostgreSQL the second UPDATE waits for the first one's row lock
and re-reads the row; on SQLite writers take turns. No worker is in charge: one that dies holds its turn until
the lease runs out, and then the next worker to ask takes the job over.
"""

import datetime

from django.db.models import Q
from django.utils import timezone

from .identity import worker_id
from .models import JobTurn

# A turn outlasts any run of its job; a worker that dies mid-run delays the job by this long at most.
MIN_LEASE = datetime.timedelta(seconds=60)

def lease_for(interval: float) -> datetime.timedelta:
    return max(datetime.timedelta(seconds=interval), MIN_LEASE)


def take(name: str, interval: float, now: datetime.datetime | None = None) -> bool:
    """Take the job's turn if it is due and nobody holds it. True: run the job now, then call `end`."""
    now = now or timezone.now()
    if _take(name, interval, now):
        return True
    if JobTurn.objects.filter(name=name).exists():
        return False
    JobTurn.objects.bulk_create([JobTurn(name=name, next_due=now)], ignore_conflicts=True)  # the job's first turn
    return _take(name, interval, now)


def _take(name: str, interval: float, now: datetime.datetime) -> bool:
    return bool(JobTurn.objects.filter(name=name, next_due__lte=now)
                .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
                .update(holder=worker_id(), lease_until=now + lease_for(interval),
                        next_due=now + datetime.timedelta(seconds=interval), last_started=now))


def end(name: str, error: str = "") -> None:
    """Give the turn back (only while it is still this worker's: after its lease ran out, it may not be)."""
    JobTurn.objects.filter(name=name, holder=worker_id()).update(
        lease_until=None, last_finished=timezone.now(), last_error=error[:2000])
