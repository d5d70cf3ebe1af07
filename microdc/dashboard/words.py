"""Machine values put into words for people: GPU throttle reasons (NVML clock event reasons), times."""

import datetime

from django.utils.dateparse import parse_datetime

THROTTLE_WORDS = {
    "gpu_idle": "idle (no work, clocks lowered)",
    "applications_clocks_setting": "clocks held by an application clock setting",
    "sw_power_cap": "power cap (drawing its power limit)",
    "hw_slowdown": "hardware slowdown (temperature or power brake)",
    "sync_boost": "held back to match other GPUs (sync boost)",
    "sw_thermal_slowdown": "too hot: driver slowing clocks",
    "hw_thermal_slowdown": "too hot: hardware slowing clocks",
    "hw_power_brake_slowdown": "external power brake (power supply or system)",
    "display_clocks_setting": "clocks held by the display clock setting",
    "board_limit": "board limit",
    "reliability": "reliability limit",
}


def throttle_word(reason: str) -> str:
    if reason in THROTTLE_WORDS:
        return THROTTLE_WORDS[reason]
    if reason.startswith("unknown_"):
        return f"reason not known to this version ({reason[len('unknown_'):]})"
    return reason.replace("_", " ")


def throttle_words(reasons) -> list[str]:
    return [throttle_word(r) for r in reasons]


def when(value) -> str:
    """An ISO time (or datetime) as HH:MM:SS UTC, with the date when it is not today; "never" for none."""
    moment = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime.datetime):
        return "never"
    moment = moment.astimezone(datetime.UTC)
    today = datetime.datetime.now(datetime.UTC).date()
    return moment.strftime("%H:%M:%S UTC" if moment.date() == today else "%Y-%m-%d %H:%M UTC")


# The ledger's attribution rules (energy.ledger) for people; the report's own rules are sentences already.
RULE_WORDS = {
    "gpu:exclusive": "A GPU held by this deployment alone: all of its energy, idle minutes included (SCI counts "
                     "all reserved hardware).",
    "gpu:shared-by-process-utilization": "A shared GPU split by the utilization the agent reports for each "
                                         "deployment's processes (NVML per-process).",
    "gpu:shared-evenly": "A shared GPU split evenly: its processes' utilization was not reported.",
    "gpu:power-integrated": "GPU energy integrated from power readings: the device has no energy counter.",
    "node:pdu-outlet": "Node energy from its PDU outlet channel; the overhead above its GPUs shared by GPUs held.",
    "node:psu-input": "Node energy from its power supplies' input (hwmon); the overhead above its GPUs shared by "
                      "GPUs held.",
    "node:rapl": "Node overhead from RAPL (CPU package and DRAM), shared by GPUs held.",
    "node:no-measurement": "The node's own power is not measured: node energy is its GPUs' energy only.",
    "node:no-accelerators-shared-evenly": "A node without GPUs: its overhead split evenly among its deployments.",
}


def rule_words(rule: str) -> str:
    """A rule in words; any other (the report's sentences, a rule newer than this table) as it is."""
    return RULE_WORDS.get(rule, rule)
