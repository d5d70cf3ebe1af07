from dataclasses import dataclass, field

from .. import links


@dataclass
class Observation:
    labels: dict[str, str]  # the thing's labels (alertname and severity are added by the evaluator)
    value: float | None  # None: missing data
    summary: str
    url: str = ""
    site_id: int | None = None
    severity: str | None = None  # overrides the rule's (a meter's own warning or critical)
    threshold: float | None = None  # overrides the rule's (a site's own PUE target)
    description: str = field(default="")


def clean(labels: dict) -> dict[str, str]:
    """Labels as strings, empty ones left out (as Prometheus drops them)."""
    return {k: str(v) for k, v in labels.items() if v not in (None, "")}


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "no data"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{text} {unit}".strip()


def facility_url() -> str:
    return links.FACILITY
