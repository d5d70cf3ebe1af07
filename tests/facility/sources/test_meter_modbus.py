"""Modbus TCP source against a pymodbus server (in-process) holding SunSpec meters and plain registers.

SunSpec maps are built with the simulator's encoder, which places points by the order of the SunSpec
model definitions; the decoder under test uses its own offset table. ``test_encoder_offsets_follow
_the_sunspec_models`` pins both to the published layout.
"""

from __future__ import annotations

import math
import struct

import pytest

from microdc.facility.sources import MeterError, Reading, get_source
from microdc.simulator.facility.sunspec_map import common_model, device_map, float_meter_model, int_meter_model

pytestmark = pytest.mark.integration

INT_VALUES = {
    "W": 1234.5, "WphA": 400.1, "WphB": 420.2,  # WphC not implemented
    "A": 54.32, "AphA": 18.1, "AphB": 18.2, "AphC": 18.02,
    "PhV": 230.4, "PhVphA": 230.1, "PhVphB": 230.5, "PhVphC": 230.6, "PhVphAB": 399.1,
    "Hz": 50.01, "TotWhImp": 123456780.0, "TotWhImpPhA": 41000000.0,
}
INT_SCALE_FACTORS = {"W_SF": -1, "A_SF": -2, "V_SF": -1, "Hz_SF": -2, "TotWh_SF": 1}  # no VA_SF: VA absent
FLOAT_VALUES = {
    "W": 11250.75, "WphA": 3750.25, "WphB": 3750.25, "WphC": 3750.25, "VA": 11600.5, "A": 48.875,
    "PhV": 231.5, "PhVphA": 231.5, "PPVphAB": 400.5, "Hz": 49.98, "TotWhImp": 9876543.5, "TotWhExp": 1250.0,
}
CHANNELS = {  # SunSpec point -> (quantity, channel)
    "W": ("power_watts", ""), "WphA": ("power_watts", "L1"), "WphB": ("power_watts", "L2"),
    "WphC": ("power_watts", "L3"), "VA": ("apparent_power_volt_amperes", ""), "A": ("current_amperes", ""),
    "AphA": ("current_amperes", "L1"), "AphB": ("current_amperes", "L2"), "AphC": ("current_amperes", "L3"),
    "PhV": ("voltage_volts", ""), "PhVphA": ("voltage_volts", "L1-N"), "PhVphB": ("voltage_volts", "L2-N"),
    "PhVphC": ("voltage_volts", "L3-N"), "PhVphAB": ("voltage_volts", "L1-L2"), "PPVphAB": ("voltage_volts", "L1-L2"),
    "Hz": ("frequency_hertz", ""), "TotWhImp": ("energy_joules", ""), "TotWhExp": ("energy_joules", "export"),
    "TotWhImpPhA": ("energy_joules", "L1"),
}
INVERTER_MODEL = [101, 50] + [0] * 50  # a non-meter model in front of the meter, as on hybrid devices


def common(unit: int) -> list[int]:
    return common_model("microdc test", "Test meter", "1.0", f"T{unit}", unit)


def expected(values: dict[str, float]) -> dict[tuple[str, str], float]:
    return {CHANNELS[p]: v * 3600 if CHANNELS[p][0] == "energy_joules" else v for p, v in values.items()}


@pytest.fixture(scope="module")
def server(modbus_server_class):
    units = {
        # int + scale factor meter behind model 1 and an inverter model, at the usual base 40000
        1: {"holding": {40000: device_map(common(1), INVERTER_MODEL,
                                          int_meter_model(203, INT_VALUES, INT_SCALE_FACTORS))}},
        # float meter at base 0
        2: {"holding": {0: device_map(common(2), float_meter_model(213, FLOAT_VALUES))}},
        # a meter at 50000 holding both a single-phase int model and a float model
        3: {"holding": {50000: device_map(common(3), int_meter_model(201, {"W": 99.0}, {"W_SF": 0}),
                                          float_meter_model(211, {"W": 88.5}))}},
        # registers, but no SunSpec marker anywhere
        4: {"holding": {0: [0] * 10, 40000: [1, 2, 3, 4]}},
        # a plain register map: holding and input tables, several types and word orders
        5: {"holding": {100: [*_words(">f", 1234.5), *_words(">i", -70000), 0, 0xFFFF, *_words(">Q", 2**40 + 7)],
                        200: _words(">f", 55.25)[::-1],  # little word order: low word first
                        210: _words(">f", math.nan)},
            "input": {300: [*_words(">I", 3_000_000_000), 215]}},
    }
    with modbus_server_class(units) as running:
        yield running


def _words(fmt: str, value: float) -> list[int]:
    raw = struct.pack(fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def read(server, settings: dict, timeout: float = 3.0) -> dict[tuple[str, str], Reading]:
    readings = get_source("modbus").read("127.0.0.1", server.port, settings, {}, timeout)
    table = {(r.quantity, r.channel): r for r in readings}
    assert len(table) == len(readings)
    return table


def test_int_model_with_scale_factors_found_by_scanning(server):
    readings = read(server, {"mode": "sunspec", "unit_id": 1})
    assert {key: r.value for key, r in readings.items()} == pytest.approx(expected(INT_VALUES), rel=1e-12)
    assert ("power_watts", "L3") not in readings  # 0x8000: not implemented
    assert ("apparent_power_volt_amperes", "") not in readings  # its scale factor is not implemented


def test_float_model_at_base_zero(server):
    readings = read(server, {"unit_id": 2})
    as_float32 = {point: struct.unpack(">f", struct.pack(">f", v))[0] for point, v in FLOAT_VALUES.items()}
    assert {key: r.value for key, r in readings.items()} == expected(as_float32)


def test_model_setting_picks_one_of_several_meters(server):
    assert read(server, {"unit_id": 3})[("power_watts", "")].value == 99.0  # the first meter model
    assert read(server, {"unit_id": 3, "model": 211})[("power_watts", "")].value == 88.5
    assert read(server, {"unit_id": 3, "base_address": 50000, "model": 211})[("power_watts", "")].value == 88.5


def test_second_poll_reads_the_cached_location(server):
    first = read(server, {"unit_id": 1})
    second = read(server, {"unit_id": 1})
    assert first == second


def test_register_map_types_word_orders_and_tables(server):
    settings = {"mode": "registers", "unit_id": 5, "registers": [
        {"address": 100, "type": "float32", "quantity": "power_watts"},
        {"address": 102, "type": "int32", "quantity": "temperature_celsius", "scale": 0.001, "channel": "probe"},
        {"address": 104, "type": "uint16", "quantity": "load_ratio", "scale": 0.5},
        {"address": 105, "type": "int16", "quantity": "current_amperes"},
        {"address": 106, "type": "uint64", "quantity": "energy_joules", "scale": 3600},
        {"address": 200, "type": "float32", "word_order": "little", "quantity": "flow_liters_per_minute"},
        {"address": 300, "type": "uint32", "table": "input", "quantity": "water_cubic_meters", "scale": 1e-3},
        {"address": 302, "type": "uint16", "table": "input", "quantity": "voltage_volts"},
    ]}
    readings = read(server, settings)
    assert readings[("power_watts", "")].value == 1234.5
    assert readings[("temperature_celsius", "probe")].value == pytest.approx(-70.0)
    assert readings[("load_ratio", "")].value == 0
    assert readings[("current_amperes", "")].value == -1  # 0xFFFF as int16
    assert readings[("energy_joules", "")].value == (2**40 + 7) * 3600
    assert readings[("flow_liters_per_minute", "")].value == 55.25
    assert readings[("water_cubic_meters", "")].value == pytest.approx(3_000_000.0)
    assert readings[("voltage_volts", "")].value == 215


def test_float_register_holding_nan_means_no_value(server):
    settings = {"mode": "registers", "unit_id": 5,
                "registers": [{"address": 210, "type": "float32", "quantity": "power_watts"}]}
    with pytest.raises(MeterError, match=r"register 210 \(power_watts\) holds nan: the meter has no value"):
        read(server, settings)


def test_read_called_from_async_code_still_works(server):
    """The poller may run inside an event loop; the source then reads on a helper thread."""
    import asyncio

    async def inside_a_loop() -> dict:
        return read(server, {"unit_id": 2})

    assert asyncio.run(inside_a_loop())[("power_watts", "")].value == pytest.approx(FLOAT_VALUES["W"])


def test_device_without_the_marker_is_not_sunspec(server):
    bases = "40000/40001/0/1/50000/50001"
    with pytest.raises(MeterError, match=rf"not a SunSpec device: no 'SunS' marker at {bases} \(unit 4"):
        read(server, {"unit_id": 4})


def test_register_that_does_not_exist_is_a_modbus_exception(server):
    settings = {"mode": "registers", "unit_id": 5, "registers": [{"address": 9000, "quantity": "power_watts"}]}
    expected = r"Modbus exception 2 \(illegal data address\) reading holding registers 9000-9000 from unit 5"
    with pytest.raises(MeterError, match=expected):
        read(server, settings)


def test_unknown_unit_is_reported_not_mistaken_for_a_missing_marker(server):
    with pytest.raises(MeterError, match=r"Modbus exception \d+ \(.*\) reading holding registers .* from unit 42"):
        read(server, {"unit_id": 42})


def test_encoder_offsets_follow_the_sunspec_models():
    """Offsets from the SunSpec model JSON (points counted from the model id register)."""
    int_model = int_meter_model(203, {"W": 1000.0, "TotWhImp": 5.0, "Hz": 50.0}, {"W_SF": 0, "TotWh_SF": 0, "Hz_SF": 0})
    assert int_model[:2] == [203, 105] and len(int_model) == 107
    assert int_model[18] == 1000 and int_model[22] == 0  # W, W_SF
    assert int_model[16] == 50  # Hz
    assert (int_model[46] << 16 | int_model[47]) == 5  # TotWhImp (acc32)
    float_model = float_meter_model(213, {"W": 1000.0, "TotWhImp": 5.0})
    assert float_model[:2] == [213, 124] and len(float_model) == 126
    assert struct.unpack(">f", struct.pack(">HH", *float_model[28:30]))[0] == 1000.0  # W
    assert struct.unpack(">f", struct.pack(">HH", *float_model[68:70]))[0] == 5.0  # TotWhImp
    assert math.isnan(struct.unpack(">f", struct.pack(">HH", *float_model[2:4]))[0])  # A: not given, NaN
    assert common(1)[:2] == [1, 66] and len(common(1)) == 68
