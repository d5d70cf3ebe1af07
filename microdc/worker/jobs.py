"""The appliance's periodic jobs, in one list the worker runs."""

from microdc.telemetry import rollups

from .periodic import Job


def default_jobs() -> list[Job]:
    return [
        Job("telemetry rollups", 30, rollups.roll_up_dirty),
        Job("retention", 3600, rollups.prune),
    ]
