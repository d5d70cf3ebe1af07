"""The appliance's periodic jobs, in one list the worker runs."""

from django.conf import settings

from microdc.alerts import delivery, evaluation, retention, routing
from microdc.energy import ledger
from microdc.energy.reservations import sync_reservations
from microdc.energy.scrape import Scraper
from microdc.facility.poller import Poller
from microdc.power.enforce import enforce as enforce_power_policies
from microdc.power.tuning import advance_sweeps
from microdc.provisioning.jobs import recover_interrupted
from microdc.telemetry import rollups

from .periodic import Job


def energy_ledger() -> int:
    """Reservations first, so the minutes the ledger recomputes see who holds what now."""
    sync_reservations()
    return ledger.update()


def alert_cycle() -> int:
    """Rules first, so the notifications routed next see this cycle's states."""
    evaluation.evaluate()
    return routing.route()


def default_jobs() -> list[Job]:
    poller = Poller()
    scraper = Scraper()
    deliverer = delivery.Deliverer()
    return [
        Job("meter polling", 1, poller.tick, shared=True, lane="dispatch"),
        # Ticks every second; a round of scrapes starts every MICRODC_MODEL_SCRAPE_SECONDS in whichever worker
        # takes the round's turn (energy.scrape).
        Job("model-server scrapes", 1, scraper.tick, shared=True, lane="dispatch"),
        Job("telemetry rollups", 30, rollups.roll_up_pending, shared=True),
        Job("retention", 3600, rollups.prune),
        Job("energy ledger", 30, energy_ledger),
        Job("energy ledger retention", 3600, ledger.prune),
        Job("interrupted provisioning jobs", 15, recover_interrupted),
        Job("alert rules", settings.MICRODC_ALERT_EVAL_SECONDS, alert_cycle),
        Job("alert notifications", 1, deliverer.tick, shared=True, lane="dispatch"),
        Job("alert retention", 3600, retention.prune),
        Job("power policies", settings.MICRODC_POWER_POLICY_SECONDS, enforce_power_policies),
        Job("cap sweeps", 2, advance_sweeps),
    ]
