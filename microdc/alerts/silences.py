"""Which silences apply now, and which of them mute an alert's labels."""

import datetime
from collections.abc import Iterable, Mapping

from django.utils import timezone

from .labels import matches
from .models import Silence


def active_silences(now: datetime.datetime | None = None) -> list[Silence]:
    now = now or timezone.now()
    return list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence]) -> list[int]:
    """Ids of the silences whose matchers all match the labels."""
    return [s.pk for s in silences if matches(s.matchers, labels)]
