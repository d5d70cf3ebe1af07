"""Energy and carbon figures as text: three significant digits and an SI prefix (41.2 mJ, 4.12 kJ).

static/microdc/format.js (``fmt.figure``) formats the live values the same way. Unknown is an em dash, never 0.
"""

import math

EM_DASH = "—"
PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"))
UNITS = {"joules": "J", "wh": "Wh", "grams": "g"}


def _three(value: float) -> float:
    return float(f"{value:.3g}")


def _si(value: float, unit: str) -> str:
    value = _three(value)
    if value == 0:
        return f"0 {unit}"
    scale, prefix = next(((s, p) for s, p in PREFIXES if abs(value) >= s), PREFIXES[-1])
    return f"{_three(value / scale):g} {prefix}{unit}"


def figure_text(value, kind: str) -> str:
    """`value` (a number in base units, or None) as `kind`: joules, wh, grams, seconds, count, share, ratio,
    rate."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return EM_DASH
    if kind in UNITS:
        return _si(value, UNITS[kind])
    if kind == "seconds":
        return f"{_three(value * 1000):g} ms" if abs(value) < 1 else f"{_three(value):g} s"
    if kind == "count":
        return f"{round(value):,}"
    if kind == "share":
        return f"{value * 100:.0f} %"
    if kind == "ratio":
        return f"{value:.2f}"
    return f"{_three(value):g}"
