"""Replay a raw NVML capture through the real ``pynvml`` module, for tests, benchmarks and GPU-less demos.

A capture is the ``nvml_raw`` part of ``microdc-agent --once --json --nvml-raw``: per GPU, the raw return
value of every call keyed ``"function(ARG_CONSTANTS)"``, or ``{"error": "NotSupported"}`` (the
``NVMLError_`` class suffix). ``install`` replaces pynvml's functions at the module boundary with ones
answering from the capture, returning pynvml's own ctypes structures and raising its own ``NVMLError_*``
classes; every other ``nvml*`` function raises ``NVMLError_FunctionNotFound``, so nothing reaches a real
libnvidia-ml.

Per-process calls replay NVML's semantics: ``nvmlDeviceGetProcessUtilization()`` holds the driver's sample
buffer (a list of {pid, timeStamp, smUtil, memUtil, encUtil, decUtil}); a call returns the samples newer
than its lastSeenTimeStamp, or raises NOT_FOUND when there are none. ``nvmlDeviceGetComputeRunningProcesses()``
holds [{pid, usedGpuMemory}]. Tests may append to these lists between collections.

Power limits replay a settable device: ``nvmlDeviceSetPowerManagementLimit`` checks the captured
constraints (INVALID_ARGUMENT outside them), then moves the management and the enforced limit, which later
reads return; a capture may record the set call's error instead (``{"error": "NoPermission"}``). The
management limit starts at the captured enforced limit.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable, Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

_VALUE_MEMBERS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
_KEY = re.compile(r"^(\w+)\((.*)\)$")

Setter = Callable[[Any, str, Any], None]


class ReplayHandle:
    """What nvmlDeviceGetHandleByIndex returns under replay (the real one is an opaque pointer)."""

    def __init__(self, index: int) -> None:
        self.index = index


def _as_nvml_type(nv: ModuleType, fn: str, args: tuple[Any, ...], value: Any) -> Any:
    """Raw JSON value -> the type the real pynvml wrapper returns."""
    if fn == "nvmlDeviceGetMemoryInfo":
        if args:  # version=nvmlMemory_v2
            return nv.c_nvmlMemory_v2_t(version=args[0], **value)
        return nv.c_nvmlMemory_t(**{k: v for k, v in value.items() if k in ("total", "free", "used")})
    if fn == "nvmlDeviceGetUtilizationRates":
        return nv.c_nvmlUtilization_t(**value)
    if fn == "nvmlDeviceGetComputeRunningProcesses":
        return [nv.nvmlFriendlyObject({"pid": p["pid"], "usedGpuMemory": p.get("usedGpuMemory"),
                                       "gpuInstanceId": 0xFFFFFFFF, "computeInstanceId": 0xFFFFFFFF})
                for p in value]
    if fn == "nvmlDeviceGetFieldValues":
        ids = args[0]
        records = value if isinstance(value, list) else [value]
        arr = (nv.c_nvmlFieldValue_t * len(ids))()
        for i, (fid, rec) in enumerate(zip(ids, records, strict=True)):
            arr[i].fieldId = fid
            arr[i].nvmlReturn = rec["nvmlReturn"]
            arr[i].valueType = rec["valueType"]
            if rec.get("value") is not None:
                setattr(arr[i].value, _VALUE_MEMBERS[rec["valueType"]], rec["value"])
        return arr
    return copy.deepcopy(value)


def _process_samples(nv: ModuleType, buffer: list[dict[str, Any]], last_seen: int) -> list[Any]:
    samples = [nv.c_nvmlProcessUtilizationSample_t(**s) for s in buffer if s["timeStamp"] > last_seen]
    if not samples:
        raise nv.NVMLError_NotFound()
    return samples


def install(raw: dict[str, Any] | None, setter: Setter = setattr, init_error: str | None = None,
            module: ModuleType | None = None) -> SimpleNamespace:
    """Patch pynvml (through ``setter``, e.g. pytest's ``monkeypatch.setattr``) to answer from ``raw``.
    ``init_error`` makes nvmlInit raise ``NVMLError_<init_error>``, or OSError when it is "OSError".
    Returns counters: init_calls, shutdown_calls, calls (names of device functions called)."""
    if module is None:
        import pynvml as module
    nv = module
    state = SimpleNamespace(init_calls=0, shutdown_calls=0, calls=[])
    devices = (raw or {}).get("devices", [])
    table: dict[str, dict[tuple[int, tuple[Any, ...]], Any]] = {}
    for dev in devices:
        for key, value in dev["calls"].items():
            match = _KEY.match(key)
            if match is None:
                raise ValueError(f"capture key {key!r} is not 'function(ARGS)'")
            fn, argstr = match.groups()
            if fn == "nvmlDeviceGetHandleByIndex":
                continue
            args = tuple(getattr(nv, a) for a in argstr.split(",") if a)
            if fn == "nvmlDeviceGetFieldValues":
                args = (args,)
            table.setdefault(fn, {})[(dev["index"], args)] = value

    def error(name: str) -> Exception:
        return getattr(nv, f"NVMLError_{name}")()

    def missing(*_a: Any, **_k: Any) -> Any:
        raise nv.NVMLError_FunctionNotFound()

    for name in dir(nv):
        attr = getattr(nv, name)
        if name.startswith("nvml") and callable(attr) and not isinstance(attr, type):
            setter(nv, name, missing)

    def make(fn: str) -> Callable[..., Any]:
        def replay(handle: ReplayHandle, *args: Any) -> Any:
            state.calls.append(fn)
            if fn == "nvmlDeviceGetFieldValues":
                args = (tuple(args[0]),)
            last_seen = None
            if fn == "nvmlDeviceGetProcessUtilization":
                (last_seen,), args = args, ()
            try:
                value = table[fn][(handle.index, args)]
            except KeyError:
                raise nv.NVMLError_FunctionNotFound() from None
            if isinstance(value, dict) and set(value) == {"error"}:
                raise error(value["error"])
            if last_seen is not None:
                return _process_samples(nv, value, last_seen)
            return _as_nvml_type(nv, fn, args, value)

        return replay

    for fn in table:
        setter(nv, fn, make(fn))
    if "nvmlDeviceGetPowerManagementLimitConstraints" in table:
        _install_settable_limit(nv, table, setter, state)

    def nvml_init() -> None:
        state.init_calls += 1
        if init_error == "OSError":
            raise OSError("libnvidia-ml.so.1: cannot open shared object file")
        if init_error:
            raise error(init_error)

    def nvml_shutdown() -> None:
        state.shutdown_calls += 1

    def get_handle(index: int) -> ReplayHandle:
        if not 0 <= index < len(devices):
            raise nv.NVMLError_InvalidArgument()
        err = devices[index]["calls"].get(f"nvmlDeviceGetHandleByIndex({index})")
        if err:
            raise error(err["error"])
        return ReplayHandle(index)

    system = {"nvmlSystemGetDriverVersion": "driver_version", "nvmlSystemGetNVMLVersion": "nvml_version",
              "nvmlSystemGetCudaDriverVersion_v2": "cuda_driver_version"}
    for fn, key in system.items():
        if raw and key in raw:
            setter(nv, fn, lambda key=key: raw[key])
    setter(nv, "nvmlInit", nvml_init)
    setter(nv, "nvmlShutdown", nvml_shutdown)
    setter(nv, "nvmlDeviceGetCount", lambda: len(devices))
    setter(nv, "nvmlDeviceGetHandleByIndex", get_handle)
    return state


def _install_settable_limit(nv: ModuleType, table: dict, setter: Setter, state: SimpleNamespace) -> None:
    enforced = table.setdefault("nvmlDeviceGetEnforcedPowerLimit", {})
    limits = table.setdefault("nvmlDeviceGetPowerManagementLimit", {})
    for key, value in enforced.items():
        limits.setdefault(key, value)
    refusals = table.pop("nvmlDeviceSetPowerManagementLimit", {})

    def get_limit(handle: ReplayHandle) -> int:
        state.calls.append("nvmlDeviceGetPowerManagementLimit")
        value = limits[(handle.index, ())]
        if isinstance(value, dict):
            raise getattr(nv, f"NVMLError_{value['error']}")()
        return value

    def set_limit(handle: ReplayHandle, limit: int) -> None:
        state.calls.append("nvmlDeviceSetPowerManagementLimit")
        refusal = refusals.get((handle.index, ()))
        if refusal:
            raise getattr(nv, f"NVMLError_{refusal['error']}")()
        low, high = table["nvmlDeviceGetPowerManagementLimitConstraints"][(handle.index, ())]
        if not low <= limit <= high:
            raise nv.NVMLError_InvalidArgument()
        limits[(handle.index, ())] = enforced[(handle.index, ())] = int(limit)

    setter(nv, "nvmlDeviceGetPowerManagementLimit", get_limit)
    setter(nv, "nvmlDeviceSetPowerManagementLimit", set_limit)


@contextlib.contextmanager
def replaying(raw: dict[str, Any] | None, init_error: str | None = None) -> Iterator[SimpleNamespace]:
    """``install`` for the duration of a ``with`` block, restoring pynvml afterwards."""
    import pynvml

    saved: dict[str, Any] = {}

    def setter(obj: Any, name: str, value: Any) -> None:
        saved.setdefault(name, getattr(obj, name))
        setattr(obj, name, value)

    try:
        yield install(raw, setter, init_error, pynvml)
    finally:
        for name, value in saved.items():
            setattr(pynvml, name, value)
