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
