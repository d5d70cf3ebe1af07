"""Simulated SunSpec meters on a pymodbus TCP server (a thread with its own event loop).

Each unit id holds one SunSpec device at base address 40000: the 'SunS' marker, model 1 naming it
simulated, and a meter model whose registers are rewritten from the facility model on every read
(pymodbus calls the device's ``action`` before answering).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from .model import FacilityModel, Snapshot
from .sunspec_map import common_model, device_map, float_meter_model, int_meter_model

BASE_ADDRESS = 40000
PHASE_VOLTAGE = 230.0
FREQUENCY = 50.0
POWER_FACTOR = 0.97

MapFn = Callable[[Snapshot], list[int]]


def meter_values(watts: float, energy_joules: float) -> dict[str, float]:
    """A balanced three-phase meter carrying ``watts`` with ``energy_joules`` imported so far."""
    phase = watts / 3
    values = {
        "W": watts, "WphA": phase, "WphB": phase, "WphC": phase,
        "VA": watts / POWER_FACTOR,
        "A": watts / PHASE_VOLTAGE, "AphA": phase / PHASE_VOLTAGE, "AphB": phase / PHASE_VOLTAGE,
        "AphC": phase / PHASE_VOLTAGE,
        "PhV": PHASE_VOLTAGE, "PhVphA": PHASE_VOLTAGE, "PhVphB": PHASE_VOLTAGE, "PhVphC": PHASE_VOLTAGE,
        "Hz": FREQUENCY,
        "TotWhImp": energy_joules / 3600.0,
    }
    return values


def utility_meter_map(unit_id: int) -> MapFn:
    """The utility feed: a float SunSpec meter (model 213)."""
    common = common_model("microdc simulator", "Simulated utility meter (not real)", "1.0", f"SIM-UTIL-{unit_id}",
                          unit_id)

    def build(snapshot: Snapshot) -> list[int]:
        values = meter_values(snapshot.powers.utility, snapshot.energy_joules["utility"])
        values["TotWhExp"] = 0.0
        return device_map(common, float_meter_model(213, values))

    return build


def generation_meter_map(unit_id: int) -> MapFn:
    """The on-site solar array's production meter: a float SunSpec meter (model 213), all of it used on site."""
    common = common_model("microdc simulator", "Simulated solar production meter (not real)", "1.0",
                          f"SIM-PV-{unit_id}", unit_id)

    def build(snapshot: Snapshot) -> list[int]:
        values = meter_values(snapshot.powers.solar, snapshot.energy_joules["solar"])
        values["TotWhExp"] = 0.0
        return device_map(common, float_meter_model(213, values))

    return build


def cooling_meter_map(unit_id: int) -> MapFn:
    """The cooling plant's feed: an integer + scale factor SunSpec meter (model 203)."""
    common = common_model("microdc simulator", "Simulated cooling feed meter (not real)", "1.0",
                          f"SIM-COOL-{unit_id}", unit_id)
    scale_factors = {"A_SF": -2, "V_SF": -1, "Hz_SF": -2, "W_SF": 0, "VA_SF": 0, "TotWh_SF": 0}

    def build(snapshot: Snapshot) -> list[int]:
        values = meter_values(snapshot.powers.cooling, snapshot.energy_joules["cooling"])
        return device_map(common, int_meter_model(203, values, scale_factors))

    return build


class ModbusServer:
    """A pymodbus TCP server on ``host:port`` (port 0 picks a free one) with one device per unit id."""

    def __init__(self, model: FacilityModel, host: str, port: int, devices: dict[int, MapFn]):
        self.model, self.host, self.requested_port, self.devices = model, host, port, devices
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.server: ModbusTcpServer | None = None
        self.thread = threading.Thread(target=self._run, name="sim-modbus", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(10) or self.failure:
            raise RuntimeError(f"simulated Modbus server did not start: {self.failure}")

    def stop(self) -> None:
        if self.server is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(timeout=5)
        self.thread.join(timeout=5)

    def _device(self, unit_id: int, build: MapFn) -> SimDevice:
        registers = build(self.model.snapshot())

        async def refresh(_function_code, start_address, _address, _count, current, _set_values):
            # Rewrite the whole map from a fresh snapshot, so every read sees one consistent moment.
            fresh = build(self.model.snapshot())
            offset = BASE_ADDRESS - start_address
            current[offset : offset + len(fresh)] = fresh
            return None

        block = SimData(address=BASE_ADDRESS, values=registers, datatype=DataType.REGISTERS, readonly=True)
        return SimDevice(id=unit_id, simdata=[block], action=refresh)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def serve() -> None:
            try:
                devices = [self._device(unit_id, build) for unit_id, build in self.devices.items()]
                self.server = ModbusTcpServer(context=devices, address=(self.host, self.requested_port))
                await self.server.serve_forever(background=True)
                self.port = self.server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            except BaseException as error:
                self.failure = error
                self.ready.set()
                return
            self.ready.set()
            await self.server.serving

        try:
            self.loop.run_until_complete(serve())
        finally:
            self.loop.close()
