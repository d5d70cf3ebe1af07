"""The window a report covers: a named window (5m ... 30d, calendar day or month) or an explicit start/end.

A window ends at the last whole minute the ledger can have settled (now minus the scrape and ledger lag),
the way facility.pue.window_bounds ends PUE windows.
"""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from microdc.facility.pue import WINDOWS, window_bounds

# A model server's counters arrive every scrape interval (10 s) and the ledger catches up every 30 s.
LEDGER_LAG_SECONDS = 60
MAX_SPAN = datetime.timedelta(days=400)


class WindowError(ValueError):
    """A window that cannot be reported on; the message names what was wrong."""


@dataclass(frozen=True)
class Window:
    label: str | None  # the named window, None for start/end
    start: datetime.datetime
    end: datetime.datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _minute_aligned(name: str, value: datetime.datetime) -> datetime.datetime:
    if timezone.is_naive(value):
        raise WindowError(f"{name} must carry a UTC offset (e.g. 2026-01-01T00:00:00Z), got {value.isoformat()}")
    if value.second or value.microsecond:
        raise WindowError(f"{name} must fall on a whole minute, got {value.isoformat()}")
    return value.astimezone(datetime.UTC)


def resolve(window: str | None = None, start: datetime.datetime | None = None,
            end: datetime.datetime | None = None, now: datetime.datetime | None = None) -> Window:
    if window is not None and (start is not None or end is not None):
        raise WindowError("give either a window or start and end, not both")
    if window is None and start is None and end is None:
        window = "24h"
    if window is not None:
        if window not in WINDOWS:
            raise WindowError(f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
        begin, until = window_bounds(window, now or timezone.now(), LEDGER_LAG_SECONDS)
        return Window(window, begin, until)
    if start is None or end is None:
        raise WindowError("start and end go together")
    start, end = _minute_aligned("start", start), _minute_aligned("end", end)
    if not start < end:
        raise WindowError(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
    if end - start > MAX_SPAN:
        raise WindowError(f"a window spans at most {MAX_SPAN.days} days")
    return Window(None, start, end)
