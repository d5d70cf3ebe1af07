"""The appliance's periodic jobs, in one list the worker runs."""

from microdc.energy import ledger
from microdc.energy.reservations import sync_reservations
from microdc.facility.poller import Poller
from microdc.provisioning.jobs import recover_interrupted
from microdc.telemetry import rollups

from .periodic import Job


def energy_ledger() -> int:
    """Reservations first, so the minutes the ledger recomputes see who holds what now."""
    sync_reservations()
    return ledger.update()


def default_jobs() -> list[Job]:
    poller = Poller()
    return [
        Job("meter polling", 1, poller.tick),
        Job("telemetry rollups", 30, rollups.roll_up_dirty),
        Job("retention", 3600, rollups.prune),
        Job("energy ledger", 30, energy_ledger),
        Job("energy ledger retention", 3600, ledger.prune),
        Job("interrupted provisioning jobs", 15, recover_interrupted),
    ]
