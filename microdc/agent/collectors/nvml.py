"""NVML collector: NVIDIA GPUs through nvidia-ml-py (the ``pynvml`` module NVIDIA publishes).

Units as NVML returns them -> base units sent by the agent:
power and power limit mW -> W, total energy mJ (since driver load) -> J, clocks MHz -> Hz,
utilization and fan speed percent -> ratio, PCIe throughput KB/s (KiB, 1024 bytes) -> bytes/s.

A field the GPU does not support (``NVMLError_NotSupported``) or the driver lacks (``FunctionNotFound``) is
left out of the metrics. No driver at all is reported once and the collector retries ``nvmlInit`` every
few minutes, so a node whose driver loads after the agent starts is picked up without a restart.

Per-process utilization (``process_map``; default: the host's /proc and /run/microdc): per GPU, the
``nvmlDeviceGetProcessUtilization`` samples newer than the last collection's (its ``lastSeenTimeStamp``, kept
per GPU), each process's smUtil averaged over its samples, the processes mapped to their microdc-model
service (microdc.agent.processes), summed per service and capped at 1, sent as sensors
``{"source": "nvml-process", "chip": <GPU uuid>, "name": <service>, "metrics": {"sm_utilization_ratio"}}``.
NOT_FOUND means no samples since: the service's running processes (``nvmlDeviceGetComputeRunningProcesses``)
report 0. NOT_SUPPORTED leaves that GPU's process sensors out and the collector degraded, saying so, without
asking again. Processes mapping to no service are not reported. Sources stay few: one per (GPU, service)
ever run there, e.g. 8 GPUs x 10 deployments over a node's life is 80 of MICRODC_MAX_SENSORS_PER_NODE=256,
each with one metric name (of MICRODC_MAX_METRICS_PER_SOURCE=64).

Power limits (``apply_power_limits``, fed by the appliance's push replies through microdc.agent.power_limits):
``nvmlDeviceSetPowerManagementLimit`` in mW within ``nvmlDeviceGetPowerManagementLimitConstraints``, null
meaning ``nvmlDeviceGetPowerManagementDefaultLimit``; each device reports its constraints and default as
``power_limit_min_watts`` / ``power_limit_max_watts`` / ``power_limit_default_watts`` and the outcome
(applied, not permitted without root, not supported, out of range) as ``power_limit``. The enforced limit
stays ``power_limit_watts`` (``nvmlDeviceGetEnforcedPowerLimit``, the lowest of every limit in force).

With ``record_raw`` the raw NVML return values of the last collection are kept in ``last_raw``, keyed
``"<function>(<ARG_CONSTANTS>)"``: ``microdc-agent --once --json --nvml-raw`` on a real GPU prints them, and
the tests replay such a capture through the real pynvml module (tests/agent/fixtures/nvml_h100.json).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
from types import ModuleType
from typing import Any

from microdc.agent import power_limits
from microdc.agent.collectors.base import STATUS_OK, CollectorResult, degraded, unavailable
from microdc.agent.power_limits import Attempts, Desired, LimitOutcome
from microdc.agent.processes import ProcessMap

log = logging.getLogger(__name__)

# nvmlClocksEventReason* bits (nvml.h). The last two exist only under the older ThrottleReason names.
CLOCK_EVENT_REASONS: tuple[tuple[int, str], ...] = (
    (0x0001, "gpu_idle"),
    (0x0002, "applications_clocks_setting"),
    (0x0004, "sw_power_cap"),
    (0x0008, "hw_slowdown"),
    (0x0010, "sync_boost"),
    (0x0020, "sw_thermal_slowdown"),
    (0x0040, "hw_thermal_slowdown"),
    (0x0080, "hw_power_brake_slowdown"),
    (0x0100, "display_clocks_setting"),
    (0x0200, "board_limit"),
    (0x0400, "reliability"),
)

# NVML_VALUE_TYPE_* -> member of the c_nvmlValue_t union
_VALUE_MEMBERS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}

# A device call failing with one of these means the GPU (or the whole driver) is gone, not one field.
_DEVICE_GONE_ERRORS = ("NVMLError_GpuIsLost", "NVMLError_Uninitialized", "NVMLError_DriverNotLoaded",
                       "NVMLError_LibRmVersionMismatch", "NVMLError_ResetRequired")
# A call failing with one of these will fail the same way on every GPU and every collection.
_MISSING_FUNCTION_ERRORS = ("NVMLError_FunctionNotFound", "NVMLError_ArgumentVersionMismatch")

KIB = 1024
PROCESS_SOURCE = "nvml-process"
PROCESS_UTILIZATION = "nvmlDeviceGetProcessUtilization()"
RUNNING_PROCESSES = "nvmlDeviceGetComputeRunningProcesses()"

ECC_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("ecc_corrected_errors_total", "NVML_MEMORY_ERROR_TYPE_CORRECTED", "NVML_VOLATILE_ECC"),
    ("ecc_uncorrected_errors_total", "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", "NVML_VOLATILE_ECC"),
    ("ecc_corrected_errors_aggregate_total", "NVML_MEMORY_ERROR_TYPE_CORRECTED", "NVML_AGGREGATE_ECC"),
    ("ecc_uncorrected_errors_aggregate_total", "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", "NVML_AGGREGATE_ECC"),
)


def decode_clock_event_reasons(mask: int) -> list[str]:
    """Bit mask from nvmlDeviceGetCurrentClocksEventReasons -> snake_case names; unknown bits keep their
    value (``unknown_0x800``) so a newer driver's reason is visible rather than dropped."""
    names = [name for bit, name in CLOCK_EVENT_REASONS if mask & bit]
    known = 0
    for bit, _ in CLOCK_EVENT_REASONS:
        known |= bit
    rest = mask & ~known
    bit = 1
    while rest:
        if rest & bit:
            names.append(f"unknown_{bit:#x}")
            rest &= ~bit
        bit <<= 1
    return names


def error_name(exc: BaseException) -> str:
    """``NVMLError_NotSupported`` -> ``NotSupported`` (the form stored in raw captures)."""
    return type(exc).__name__.removeprefix("NVMLError_")


def _jsonable(value: Any) -> Any:
    if isinstance(value, ctypes.Structure):
        return {name: _jsonable(getattr(value, name)) for name, *_ in value._fields_ if name != "version"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class _DeviceGone(Exception):
    """The GPU fell off the bus or the driver went away while reading it."""


class NvmlCollector:
    name = "nvml"
    simulated = False
    INIT_RETRY_SECONDS = 300.0

    def __init__(self, record_raw: bool = False, module: ModuleType | None = None,
                 process_map: ProcessMap | None = None) -> None:
        self.status = unavailable("not initialised yet")
        self.record_raw = record_raw
        self.process_map = process_map or ProcessMap()
        self._last_seen: dict[str, int] = {}  # GPU uuid -> newest process sample timestamp (microseconds)
        self._no_process_utilization: dict[str, str] = {}  # GPU uuid -> why it gives no per-process figures
        self.last_raw: dict[str, Any] | None = None
        self._module = module
        self._nv: ModuleType | None = None
        self._next_init_at: float | None = None
        self._reported_reason: str | None = None
        self._missing: set[str] = set()  # call keys the driver lacks
        self._warned: set[tuple[str, ...]] = set()
        self.limits = Attempts()

    # -- lifecycle ---------------------------------------------------------------------------------

    def _ensure_ready(self, now: float) -> ModuleType | None:
        if self._nv is not None:
            return self._nv
        if self._next_init_at is not None and now < self._next_init_at:
            return None
        self._next_init_at = now + self.INIT_RETRY_SECONDS
        try:
            nv = self._module or importlib.import_module("pynvml")
        except ImportError:
            self._set_unavailable("nvidia-ml-py is not installed (no pynvml module)")
            return None
        try:
            nv.nvmlInit()
        except nv.NVMLError_LibraryNotFound:
            self._set_unavailable(
                "NVML library not found (libnvidia-ml.so.1); is the NVIDIA driver installed?"
            )
            return None
        except nv.NVMLError_DriverNotLoaded:
            self._set_unavailable("NVIDIA driver not loaded (nvmlInit: Driver Not Loaded)")
            return None
        except nv.NVMLError as exc:
            self._set_unavailable(f"nvmlInit failed: {exc}")
            return None
        except OSError as exc:
            self._set_unavailable(f"cannot load NVML: {exc}")
            return None
        if self._reported_reason is not None:
            log.warning("NVML is available now (was: %s)", self._reported_reason)
            self._reported_reason = None
        self._nv = nv
        self.status = STATUS_OK
        return nv

    def _set_unavailable(self, reason: str) -> None:
        self.status = unavailable(reason)
        if reason != self._reported_reason:  # once per distinct reason, not every interval
            log.warning("NVML unavailable: %s; continuing without NVIDIA GPU metrics", reason)
            self._reported_reason = reason

    def _lose_driver(self, reason: str) -> None:
        """The driver went away after init: shut down and retry init later."""
        self.close()
        self._set_unavailable(reason)

    def close(self) -> None:
        if self._nv is not None:
            try:
                self._nv.nvmlShutdown()
            except Exception as exc:  # noqa: BLE001 - shutting down; nothing left to do about it
                log.debug("nvmlShutdown failed: %s", exc)
            self._nv = None

    # -- collection --------------------------------------------------------------------------------

    def collect(self, now: float) -> CollectorResult:
        nv = self._ensure_ready(now)
        if nv is None:
            return CollectorResult()
        raw: dict[str, Any] | None = {} if self.record_raw else None
        try:
            count = nv.nvmlDeviceGetCount()
            if raw is not None:
                raw.update(self._system_info(nv))
        except nv.NVMLError as exc:
            self._lose_driver(f"nvmlDeviceGetCount failed: {exc}")
            return CollectorResult()
        devices: list[dict[str, Any]] = []
        sensors: list[dict[str, Any]] = []
        raw_devices: list[dict[str, Any]] = []
        problems: list[str] = []
        self.process_map.refresh()
        for index in range(count):
            calls: dict[str, Any] = {}
            try:
                device, handle = self._read_device(nv, index, calls)
                sensors.extend(self._process_sensors(nv, handle, device["uuid"], calls))
                devices.append(device)
            except _DeviceGone as exc:
                problems.append(f"GPU {index}: {exc}")
                self._warn_once(("gone", str(index), str(exc)), "NVML GPU %d skipped: %s", index, exc)
            if raw is not None:
                raw_devices.append({"index": index, "calls": calls})
        if raw is not None:
            raw["devices"] = raw_devices
            self.last_raw = raw
        problems.extend(f"GPU {d['index']}: {self._no_process_utilization[d['uuid']]}"
                        for d in devices if d["uuid"] in self._no_process_utilization)
        self.status = degraded("; ".join(problems)) if problems else STATUS_OK
        return CollectorResult(devices=devices, sensors=sensors)

    def _system_info(self, nv: ModuleType) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for key, fn in (("driver_version", "nvmlSystemGetDriverVersion"),
                        ("nvml_version", "nvmlSystemGetNVMLVersion"),
                        ("cuda_driver_version", "nvmlSystemGetCudaDriverVersion_v2")):
            with contextlib.suppress(nv.NVMLError, AttributeError):
                info[key] = _jsonable(getattr(nv, fn)())
        return info

    def _warn_once(self, key: tuple[str, ...], msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)

    def _call(self, nv: ModuleType, calls: dict[str, Any], handle: Any, fn_name: str,
              *arg_names: str) -> Any:
        """pynvml.<fn_name>(handle, *constants) or None when unsupported/unavailable. Records the raw
        result (or the error's name) under ``"fn(ARG,...)"`` in ``calls``."""
        key = f"{fn_name}({','.join(arg_names)})"
        fn = getattr(nv, fn_name, None)
        if key in self._missing or fn is None:
            return None
        args = [getattr(nv, a) for a in arg_names]
        if fn_name == "nvmlDeviceGetFieldValues":
            args = [args]  # one list of field ids
        try:
            value = fn(handle, *args)
        except nv.NVMLError as exc:
            cls = self._failed(exc, key, fn_name, calls)
            if cls not in _MISSING_FUNCTION_ERRORS and cls != "NVMLError_NotSupported":
                self._warn_once((key, cls), "NVML %s failed: %s (field left out)", key, exc)
            return None
        if fn_name == "nvmlDeviceGetFieldValues":
            value = [self._field_value(nv, fv) for fv in value]
            calls[key] = value if len(value) > 1 else value[0]
            return value
        calls[key] = _jsonable(value)
        return value

    def _failed(self, exc: BaseException, key: str, fn_name: str, calls: dict[str, Any]) -> str:
        """Record a failed NVML call in `calls`; raise _DeviceGone when the GPU is gone; remember a function
        this driver lacks. Returns the error's class name for the caller's own cases."""
        cls = type(exc).__name__
        calls[key] = {"error": error_name(exc)}
        if cls in _DEVICE_GONE_ERRORS:
            raise _DeviceGone(f"{fn_name}: {exc}") from exc
        if cls in _MISSING_FUNCTION_ERRORS:
            self._missing.add(key)
            log.debug("NVML %s not available in this driver: %s", key, exc)
        return cls

    @staticmethod
    def _field_value(nv: ModuleType, fv: Any) -> dict[str, Any]:
        member = _VALUE_MEMBERS.get(int(fv.valueType))
        value = getattr(fv.value, member) if member and fv.nvmlReturn == nv.NVML_SUCCESS else None
        return {"nvmlReturn": int(fv.nvmlReturn), "valueType": int(fv.valueType), "value": value}

    def _read_device(self, nv: ModuleType, index: int, calls: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(index)
        except nv.NVMLError as exc:
            calls[f"nvmlDeviceGetHandleByIndex({index})"] = {"error": error_name(exc)}
            raise _DeviceGone(f"nvmlDeviceGetHandleByIndex: {exc}") from exc

        def call(fn_name: str, *arg_names: str) -> Any:
            return self._call(nv, calls, handle, fn_name, *arg_names)

        uuid = call("nvmlDeviceGetUUID")
        if not uuid:
            raise _DeviceGone("no UUID (nvmlDeviceGetUUID failed)")
        device: dict[str, Any] = {"kind": "gpu", "index": index, "uuid": str(uuid)}
        name = call("nvmlDeviceGetName")
        if name:
            device["name"] = str(name)
        device["vendor"] = "nvidia"
        device["simulated"] = False
        m: dict[str, Any] = {}

        if (v := call("nvmlDeviceGetPowerUsage")) is not None:
            m["power_watts"] = v / 1000.0
        if (v := call("nvmlDeviceGetTotalEnergyConsumption")) is not None:
            m["energy_joules"] = v / 1000.0
        if (v := call("nvmlDeviceGetEnforcedPowerLimit")) is not None:
            m["power_limit_watts"] = v / 1000.0
        # What a desired limit may be (the appliance checks a cap against these) and what "no cap" means.
        if (v := call("nvmlDeviceGetPowerManagementLimitConstraints")) is not None:
            m["power_limit_min_watts"], m["power_limit_max_watts"] = v[0] / 1000.0, v[1] / 1000.0
        if (v := call("nvmlDeviceGetPowerManagementDefaultLimit")) is not None:
            m["power_limit_default_watts"] = v / 1000.0

        v = call("nvmlDeviceGetTemperatureV", "NVML_TEMPERATURE_GPU")
        if v is None and "nvmlDeviceGetTemperatureV(NVML_TEMPERATURE_GPU)" in self._missing:
            # drivers older than nvmlDeviceGetTemperatureV: the deprecated call is all there is
            v = call("nvmlDeviceGetTemperature", "NVML_TEMPERATURE_GPU")
        if v is not None:
            m["temperature_celsius"] = float(v)
        fields = call("nvmlDeviceGetFieldValues", "NVML_FI_DEV_MEMORY_TEMP")
        # GPUs without an HBM sensor answer SUCCESS with 0 on some drivers: 0 °C is "unknown", not a reading.
        if fields and fields[0]["value"] is not None and fields[0]["value"] > 0:
            m["memory_temperature_celsius"] = float(fields[0]["value"])

        if (u := call("nvmlDeviceGetUtilizationRates")) is not None:
            m["utilization_ratio"] = u.gpu / 100.0
            m["memory_utilization_ratio"] = u.memory / 100.0

        # v2 reports "used" without the driver-reserved memory; v1 counts reserved as used.
        mem = call("nvmlDeviceGetMemoryInfo", "nvmlMemory_v2")
        if mem is None and "nvmlDeviceGetMemoryInfo(nvmlMemory_v2)" in self._missing:
            mem = call("nvmlDeviceGetMemoryInfo")
        if mem is not None:
            m["memory_used_bytes"] = int(mem.used)
            m["memory_total_bytes"] = int(mem.total)

        if (v := call("nvmlDeviceGetClockInfo", "NVML_CLOCK_SM")) is not None:
            m["sm_clock_hertz"] = v * 1e6
        if (v := call("nvmlDeviceGetClockInfo", "NVML_CLOCK_MEM")) is not None:
            m["memory_clock_hertz"] = v * 1e6
        if (v := call("nvmlDeviceGetFanSpeed")) is not None:  # data-center boards have no fan: NotSupported
            m["fan_speed_ratio"] = v / 100.0

        # volatile counts reset at driver load (like the energy counter); aggregate ones are the board's
        # lifetime totals kept in its InfoROM.
        for key, err_type, counter in ECC_COUNTERS:
            if (v := call("nvmlDeviceGetTotalEccErrors", err_type, counter)) is not None:
                m[key] = int(v)

        # Each throughput call samples a 20 ms window inside the driver.
        if (v := call("nvmlDeviceGetPcieThroughput", "NVML_PCIE_UTIL_TX_BYTES")) is not None:
            m["pcie_tx_bytes_per_second"] = float(v * KIB)
        if (v := call("nvmlDeviceGetPcieThroughput", "NVML_PCIE_UTIL_RX_BYTES")) is not None:
            m["pcie_rx_bytes_per_second"] = float(v * KIB)
        device["metrics"] = m

        reasons = call("nvmlDeviceGetCurrentClocksEventReasons")
        if reasons is None and "nvmlDeviceGetCurrentClocksEventReasons()" in self._missing:
            reasons = call("nvmlDeviceGetCurrentClocksThrottleReasons")  # drivers before r535
        if reasons is not None:
            device["throttle_reasons"] = decode_clock_event_reasons(int(reasons))
        mig = call("nvmlDeviceGetMigMode")
        if mig is not None:
            device["mig_mode"] = "enabled" if mig[0] == nv.NVML_DEVICE_MIG_ENABLE else "disabled"
        if (limit := self.limits.report(device["uuid"])) is not None:
            device["power_limit"] = limit
        return device, handle

    # -- power limits ------------------------------------------------------------------------------

    def apply_power_limits(self, desired: Desired, now: float) -> None:
        """Set each named GPU's power management limit (None: its default), within its constraints, in mW.

        Only GPUs the appliance names are touched, and only when their limit differs; a refusal (not root,
        not supported, out of range) is reported with the next sample and tried again after a while, not
        every collection."""
        nv = self._ensure_ready(now)
        if nv is None or not desired:
            return
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError:
            return  # collect() reports the lost driver
        for index in range(count):
            try:
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                uuid = str(nv.nvmlDeviceGetUUID(handle))
            except nv.NVMLError:
                continue  # a lost GPU: collect() reports it
            if uuid in desired and self.limits.due(uuid, desired[uuid], now):
                self.limits.record(uuid, self._set_limit(nv, handle, desired[uuid]), now)

    @staticmethod
    def _set_limit(nv: ModuleType, handle: Any, watts: float | None) -> LimitOutcome:
        def refused(status: str, detail: str) -> LimitOutcome:
            return LimitOutcome(watts, status, detail)

        try:
            low, high = nv.nvmlDeviceGetPowerManagementLimitConstraints(handle)
            target = nv.nvmlDeviceGetPowerManagementDefaultLimit(handle) if watts is None else round(watts * 1000)
            if not low <= target <= high:
                return refused(power_limits.OUT_OF_RANGE,
                               f"{target / 1000:g} W is outside the device's {low / 1000:g}-{high / 1000:g} W")
            if nv.nvmlDeviceGetPowerManagementLimit(handle) != target:
                nv.nvmlDeviceSetPowerManagementLimit(handle, target)
        except nv.NVMLError_NoPermission:
            return refused(power_limits.NOT_PERMITTED, "setting a power limit needs root (NVML NO_PERMISSION)")
        except (nv.NVMLError_NotSupported, nv.NVMLError_FunctionNotFound):
            return refused(power_limits.NOT_SUPPORTED,
                           "this GPU or driver has no settable power limit (NVML NOT_SUPPORTED)")
        except nv.NVMLError_InvalidArgument:
            return refused(power_limits.OUT_OF_RANGE, "NVML refused the limit as out of range (INVALID_ARGUMENT)")
        except nv.NVMLError as exc:
            return refused(power_limits.FAILED, f"NVML: {exc}")
        return LimitOutcome(watts, power_limits.APPLIED)

    # -- per-process utilization -------------------------------------------------------------------

    def _process_sensors(self, nv: ModuleType, handle: Any, uuid: str, calls: dict[str, Any]) -> list[dict[str, Any]]:
        if uuid in self._no_process_utilization or PROCESS_UTILIZATION in self._missing:
            return []
        samples = self._process_samples(nv, handle, uuid, calls)
        if samples is None:
            return []
        running = self._running_pids(nv, handle, calls)
        by_pid: dict[int, list[int]] = {}
        for sample in samples:
            if sample.pid > 0:
                by_pid.setdefault(int(sample.pid), []).append(int(sample.smUtil))
        if samples:
            self._last_seen[uuid] = max(self._last_seen.get(uuid, 0), *(int(s.timeStamp) for s in samples))
        by_service: dict[str, float] = {}
        for pid in sorted(running | set(by_pid)):
            service = self.process_map.service_of(pid)
            if service is None:
                continue  # not a model server: attributed to no deployment (microdc.agent.processes)
            utils = by_pid.get(pid)
            share = sum(utils) / len(utils) / 100.0 if utils else 0.0  # no samples since: idle
            by_service[service] = by_service.get(service, 0.0) + share
        return [{"source": PROCESS_SOURCE, "chip": uuid, "name": service, "simulated": False,
                 "metrics": {"sm_utilization_ratio": round(min(1.0, max(0.0, value)), 4)}}
                for service, value in sorted(by_service.items())]

    def _process_samples(self, nv: ModuleType, handle: Any, uuid: str, calls: dict[str, Any]) -> list[Any] | None:
        """Samples newer than the last collection's; [] when there are none; None when unknown."""
        try:
            samples = list(nv.nvmlDeviceGetProcessUtilization(handle, self._last_seen.get(uuid, 0)))
        except nv.NVMLError as exc:
            cls = self._failed(exc, PROCESS_UTILIZATION, "nvmlDeviceGetProcessUtilization", calls)
            # NOT_FOUND: no sample since lastSeen; pynvml raises NVMLError(SUCCESS) when NVML answers "zero
            # samples" to its sizing call.
            if cls == "NVMLError_NotFound" or getattr(exc, "value", None) == nv.NVML_SUCCESS:
                return []
            if cls == "NVMLError_NotSupported":
                self._no_process_utilization[uuid] = "per-process utilization not supported (NVML NOT_SUPPORTED)"
                log.warning("NVML GPU %s does not support per-process utilization: model servers sharing it "
                            "are split evenly by the appliance", uuid)
            elif cls not in _MISSING_FUNCTION_ERRORS:
                self._warn_once((PROCESS_UTILIZATION, cls), "NVML %s failed: %s (process figures left out)",
                                PROCESS_UTILIZATION, exc)
            return None
        calls[PROCESS_UTILIZATION] = _jsonable(samples)
        return samples

    def _running_pids(self, nv: ModuleType, handle: Any, calls: dict[str, Any]) -> set[int]:
        """Compute processes on the GPU now (so an idle model server reports 0, not nothing); empty when the
        driver cannot say."""
        if RUNNING_PROCESSES in self._missing:
            return set()
        try:
            processes = nv.nvmlDeviceGetComputeRunningProcesses(handle)
        except nv.NVMLError as exc:
            cls = self._failed(exc, RUNNING_PROCESSES, "nvmlDeviceGetComputeRunningProcesses", calls)
            if cls not in _MISSING_FUNCTION_ERRORS and cls != "NVMLError_NotSupported":
                self._warn_once((RUNNING_PROCESSES, cls), "NVML %s failed: %s", RUNNING_PROCESSES, exc)
            return set()
        calls[RUNNING_PROCESSES] = [{"pid": int(p.pid), "usedGpuMemory": p.usedGpuMemory} for p in processes]
        return {int(p.pid) for p in processes if int(p.pid) > 0}
