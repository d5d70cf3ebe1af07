"""Which worker reads which meter: a worker claims the meters that are due and that no other worker is reading,
and holds each under a lease while its read is in flight; storing the read ends the lease.

Several workers can poll one site (PostgreSQL): the claim locks the due state rows with SKIP LOCKED, so workers
never wait for each other, and re-checks due time and lease in its UPDATE, which on SQLite (one writer at a time)
is what decides. A meter's next poll time is shared, so however many workers there are it is read once per
interval. A worker that dies mid-read holds its meters until their leases run out (the read's timeout and a
margin), then the next worker to claim takes them over.
"""

import datetime
import uuid

from django.db import transaction
from django.db.models import Max, Q

from microdc.core.identity import worker_id
from microdc.nodes.models import FacilityMeter

from .models import MeterState

POLLED_PROTOCOLS = ("redfish", "snmp", "modbus", "promql")
# Beyond the read's own timeout: a source may take a moment past it to give up (a retry, a slow close).
LEASE_MARGIN = datetime.timedelta(seconds=2)


def polled_meters():
    return FacilityMeter.objects.live().filter(enabled=True, protocol__in=POLLED_PROTOCOLS)


def _claimable(states, now: datetime.datetime):
    return states.filter(next_poll__lte=now).filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now))


def claim_due(now: datetime.datetime, exclude: set[int] = frozenset(), limit: int | None = None,
              ) -> tuple[str, list[FacilityMeter]]:
    """Claim up to `limit` of the meters due a read that no worker holds (not `exclude`: this worker's own reads
    in flight), longest overdue first. Returns the claim's token, which storing the read hands back, and the
    meters."""
    meters = polled_meters()
    # A new meter has no state row yet, and only rows can be leased.
    MeterState.objects.bulk_create([MeterState(meter_id=pk, next_poll=now)
                                    for pk in meters.filter(state__isnull=True).values_list("pk", flat=True)],
                                   ignore_conflicts=True)
    token = f"{worker_id()}/{uuid.uuid4().hex[:12]}"
    with transaction.atomic():
        ids = list(_claimable(MeterState.objects.filter(meter__in=meters.values("pk")), now)
                   .exclude(meter_id__in=exclude).order_by("next_poll").select_for_update(skip_locked=True)
                   .values_list("meter_id", flat=True)[:limit])
        if not ids:
            return token, []
        # One lease for the whole claim, as long as its slowest meter's timeout allows.
        longest = FacilityMeter.objects.filter(pk__in=ids).aggregate(t=Max("timeout_seconds"))["t"]
        _claimable(MeterState.objects.filter(meter_id__in=ids), now).update(
            poll_claim=token, poll_lease_until=now + datetime.timedelta(seconds=longest) + LEASE_MARGIN)
    return token, list(meters.filter(state__poll_claim=token))


def release(state: MeterState, token: str | None) -> None:
    """Clear the lease on a state row about to be saved, if the claim is still `token`'s (after the lease ran
    out another worker may hold the meter; its claim is left alone)."""
    if token and state.poll_claim == token:
        state.poll_claim, state.poll_lease_until = "", None
