"""The appliance's periodic jobs, in one list the worker runs."""

from microdc.energy.scrape import Scraper
from microdc.facility.poller import Poller
from microdc.provisioning.jobs import recover_interrupted
from microdc.telemetry import rollups

from .periodic import Job


def default_jobs() -> list[Job]:
    poller = Poller()
    scraper = Scraper()
    return [
        Job("meter polling", 1, poller.tick),
        # Ticks every second; a round of scrapes starts every MICRODC_MODEL_SCRAPE_SECONDS (energy.scrape).
        Job("model-server scrapes", 1, scraper.tick),
        Job("telemetry rollups", 30, rollups.roll_up_dirty),
        Job("retention", 3600, rollups.prune),
        Job("interrupted provisioning jobs", 15, recover_interrupted),
    ]
