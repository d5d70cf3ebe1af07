"""A meter's health as people and Prometheus see it."""

import datetime

from django.utils import timezone

from microdc.nodes.models import FacilityMeter

STALE_FACTOR = 3  # a meter not read for three intervals is stale


def meter_status(meter: FacilityMeter, now: datetime.datetime | None = None) -> dict:
    now = now or timezone.now()
    state = getattr(meter, "state", None)
    last_success = state.last_success if state else None
    stale_after = datetime.timedelta(seconds=meter.poll_interval_seconds * STALE_FACTOR)
    stale = last_success is None or now - last_success > stale_after
    if meter.protocol == FacilityMeter.Protocol.PUSH:
        healthy = not stale
        error = "" if healthy else "no readings pushed recently"
    else:
        error = state.last_error if state else ("disabled" if not meter.enabled else "not polled yet")
        healthy = bool(meter.enabled and state and not state.last_error and not stale)
    return {
        "healthy": healthy,
        "enabled": meter.enabled,
        "last_success": last_success,
        "last_attempt": state.last_attempt if state else None,
        "last_error": error,
        "consecutive_failures": state.consecutive_failures if state else 0,
        "stale": stale,
        "last_duration_seconds": state.last_duration_seconds if state else None,
    }
