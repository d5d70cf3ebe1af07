"""Encode a SunSpec device map: the 'SunS' marker, model 1 (common), a meter model, the end marker.

Points are listed in the order of the SunSpec model definitions (``model_1.json``, ``model_203.json``,
``model_213.json``), with their sizes in registers; offsets follow from the order, so a point is
never placed by a hand-typed number. Points not given are encoded as "not implemented".
"""

from __future__ import annotations

import math
import struct

MARKER = [0x5375, 0x6E53]
END = [0xFFFF, 0x0000]
NOT_IMPLEMENTED_INT16 = 0x8000

COMMON_POINTS = [("Mn", 16), ("Md", 16), ("Opt", 8), ("Vr", 8), ("SN", 16), ("DA", 1), ("Pad", 1)]

_PHASES = ("", "phA", "phB", "phC")


def _int_meter_points() -> list[tuple[str, int, str]]:
    """(name, registers, kind) for models 201-204: kind is int16, sunssf, acc32 or uint32."""
    points: list[tuple[str, int, str]] = [(f"A{p}", 1, "int16") for p in _PHASES] + [("A_SF", 1, "sunssf")]
    points += [("PhV", 1, "int16"), ("PhVphA", 1, "int16"), ("PhVphB", 1, "int16"), ("PhVphC", 1, "int16")]
    points += [("PPV", 1, "int16"), ("PhVphAB", 1, "int16"), ("PhVphBC", 1, "int16"), ("PhVphCA", 1, "int16")]
    points += [("V_SF", 1, "sunssf"), ("Hz", 1, "int16"), ("Hz_SF", 1, "sunssf")]
    for group in ("W", "VA", "VAR", "PF"):
        points += [(f"{group}{p}", 1, "int16") for p in _PHASES] + [(f"{group}_SF", 1, "sunssf")]
    for group in ("TotWhExp", "TotWhImp"):
        points += [(f"{group}{p.replace('ph', 'Ph')}", 2, "acc32") for p in _PHASES]
    points.append(("TotWh_SF", 1, "sunssf"))
    for group in ("TotVAhExp", "TotVAhImp"):
        points += [(f"{group}{p.replace('ph', 'Ph')}", 2, "acc32") for p in _PHASES]
    points.append(("TotVAh_SF", 1, "sunssf"))
    for group in ("TotVArhImpQ1", "TotVArhImpQ2", "TotVArhExpQ3", "TotVArhExpQ4"):
        points += [(f"{group}{p.replace('ph', 'Ph')}", 2, "acc32") for p in _PHASES]
    points += [("TotVArh_SF", 1, "sunssf"), ("Evt", 2, "uint32")]
    return points


def _float_meter_points() -> list[tuple[str, int, str]]:
    """(name, registers, kind) for models 211-214: every point a float32, then the uint32 events."""
    names = [f"A{p}" for p in _PHASES]
    names += ["PhV", "PhVphA", "PhVphB", "PhVphC", "PPV", "PPVphAB", "PPVphBC", "PPVphCA", "Hz"]
    for group in ("W", "VA", "VAR", "PF"):
        names += [f"{group}{p}" for p in _PHASES]
    for group in ("TotWhExp", "TotWhImp", "TotVAhExp", "TotVAhImp"):
        names += [f"{group}{p.replace('ph', 'Ph')}" for p in _PHASES]
    for group in ("TotVArhImpQ1", "TotVArhImpQ2", "TotVArhExpQ3", "TotVArhExpQ4"):
        names += [f"{group}{p}" for p in _PHASES]
    return [(name, 2, "float32") for name in names] + [("Evt", 2, "uint32")]


INT_METER_POINTS = _int_meter_points()
FLOAT_METER_POINTS = _float_meter_points()
assert sum(size for _, size, _ in INT_METER_POINTS) == 105
assert sum(size for _, size, _ in FLOAT_METER_POINTS) == 124


def _string(text: str, registers: int) -> list[int]:
    raw = text.encode("ascii", "replace")[: registers * 2].ljust(registers * 2, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def common_model(manufacturer: str, model: str, version: str, serial: str, device_address: int) -> list[int]:
    values = {"Mn": manufacturer, "Md": model, "Opt": "", "Vr": version, "SN": serial}
    registers = [1, sum(size for _, size in COMMON_POINTS)]
    for name, size in COMMON_POINTS:
        if name in values:
            registers += _string(values[name], size)
        elif name == "DA":
            registers.append(device_address)
        else:
            registers.append(0)
    return registers


def int_meter_model(model_id: int, values: dict[str, float], scale_factors: dict[str, int]) -> list[int]:
    """Model 201-204. ``values`` in W, A, V, Hz, VA, Wh; ``scale_factors`` by SF name (e.g. W_SF)."""
    registers = [model_id, 105]
    for name, _size, kind in INT_METER_POINTS:
        if kind == "sunssf":
            registers.append(scale_factors.get(name, NOT_IMPLEMENTED_INT16) & 0xFFFF)
            continue
        value = values.get(name)
        if kind == "int16":
            sf = scale_factors.get(_scale_factor_of(name))
            if value is None or sf is None:
                registers.append(NOT_IMPLEMENTED_INT16)
            else:
                raw = round(value / 10**sf)
                registers.append(max(-32767, min(32767, raw)) & 0xFFFF)
        elif kind == "acc32":
            sf = scale_factors.get("TotWh_SF" if name.startswith("TotWh") else "", 0)
            raw = 0 if value is None else round(value / 10**sf) & 0xFFFFFFFF
            registers += [raw >> 16, raw & 0xFFFF]
        else:  # uint32 events: none
            registers += [0, 0]
    return registers


def _scale_factor_of(name: str) -> str:
    for prefix, sf in (("PhV", "V_SF"), ("PPV", "V_SF"), ("Hz", "Hz_SF"), ("VAR", "VAR_SF"), ("VA", "VA_SF"),
                       ("PF", "PF_SF"), ("W", "W_SF"), ("A", "A_SF")):
        if name.startswith(prefix):
            return sf
    raise KeyError(name)


def float_meter_model(model_id: int, values: dict[str, float]) -> list[int]:
    """Model 211-214, every point a big-endian float32 (NaN when not given)."""
    registers = [model_id, 124]
    for name, _size, kind in FLOAT_METER_POINTS:
        if kind == "uint32":
            registers += [0, 0]
            continue
        value = values.get(name, math.nan)
        high, low = struct.unpack(">HH", struct.pack(">f", value))
        registers += [high, low]
    return registers


def device_map(*models: list[int]) -> list[int]:
    """The whole map: marker, the models in order, end marker."""
    registers = list(MARKER)
    for model in models:
        registers += model
    return registers + END
