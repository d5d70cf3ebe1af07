"""Number formatting for the dashboard pages; static/microdc/format.js formats live values the same way."""

from django import template

from microdc.alerts.conditions.gpu import BAD_THROTTLE

from .. import words
from ..figures import figure_text
from ..words import throttle_word

register = template.Library()
DASH = "–"


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@register.filter
def watts(value) -> str:
    """312 W, 4.31 kW, 1.20 MW."""
    number = _number(value)
    if number is None:
        return DASH
    if abs(number) >= 1e6:
        return f"{number / 1e6:.2f} MW"
    if abs(number) >= 1e4:
        return f"{number / 1e3:.1f} kW"
    if abs(number) >= 1e3:
        return f"{number / 1e3:.2f} kW"
    return f"{number:.0f} W"


@register.filter
def celsius(value) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:.1f} °C"


@register.filter
def percent(value) -> str:
    """A ratio (0..1) as a percentage."""
    number = _number(value)
    return DASH if number is None else f"{number * 100:.0f} %"


@register.filter
def kwh(value) -> str:
    number = _number(value)
    if number is None:
        return DASH
    return f"{number:.1f} kWh" if abs(number) >= 10 else f"{number:.3f} kWh"


@register.filter
def grams(value) -> str:
    """Grid carbon intensity in g CO2e per kWh."""
    number = _number(value)
    return DASH if number is None else f"{number:.0f} g/kWh"


@register.filter
def ratio(value, digits: int = 2) -> str:
    number = _number(value)
    return DASH if number is None else f"{number:.{int(digits)}f}"


@register.filter
def gib(value) -> str:
    number = _number(value)
    return DASH if number is None else f"{number / 2**30:.1f} GiB"


@register.filter
def mhz(value) -> str:
    number = _number(value)
    return DASH if number is None else f"{number / 1e6:.0f} MHz"


@register.filter
def quantity(value, name: str) -> str:
    """A meter reading by its quantity name (power_watts, temperature_celsius, energy_joules ...)."""
    number = _number(value)
    if number is None:
        return DASH
    if name.endswith("_watts"):
        return watts(number)
    if name.endswith("_celsius"):
        return celsius(number)
    if name == "energy_joules":
        return kwh(number / 3.6e6)
    if name.endswith("_ratio"):
        return percent(number)
    units = {"_volts": "V", "_amperes": "A", "_hertz": "Hz", "_volt_amperes": "VA", "_pascals": "Pa",
             "_liters_per_minute": "L/min", "_seconds": "s", "_cubic_meters": "m³"}
    for suffix, unit in units.items():
        if name.endswith(suffix):
            return f"{number:.1f} {unit}"
    return f"{number:g}"


@register.filter
def label(name: str) -> str:
    """power_watts -> power, temperature_celsius -> temperature."""
    for suffix in ("_watts", "_celsius", "_joules", "_ratio", "_volts", "_amperes", "_hertz", "_volt_amperes",
                   "_pascals", "_liters_per_minute", "_seconds", "_cubic_meters", "_bytes", "_total"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ")


@register.filter
def when(value) -> str:
    return words.when(value)


@register.filter
def throttle(reason: str) -> str:
    return throttle_word(reason)


@register.filter
def throttle_class(reason: str) -> str:
    """"bad" for reasons that mean trouble (heat, hardware slowdown), "info" for normal operation (idle, cap)."""
    return "bad" if reason in BAD_THROTTLE else "info"


@register.filter
def get(mapping, key):
    if not isinstance(mapping, dict):
        return None
    return mapping.get(key, mapping.get(str(key)))


@register.filter
def measure(values: dict, name: str) -> str:
    """A tile's number for the chosen measure (temperature, power, utilization)."""
    if not isinstance(values, dict):
        return DASH
    if name == "power":
        return watts(values.get("power_watts"))
    if name == "utilization":
        return percent(values.get("utilization_ratio"))
    return celsius(values.get("temperature_celsius"))


@register.filter
def figure(value, kind: str) -> str:
    """An energy or carbon figure in base units (J, Wh, g, s ...) with an SI prefix; an em dash when unknown."""
    return figure_text(value, kind)
