"""Modbus register reading and decoding: a bounded client wrapper and the value types.

Registers are 16-bit words. Multi-word values are big-endian inside each word; ``word_order`` says
whether the most significant word comes first (``big``, the Modbus/SunSpec convention) or last
(``little``, common on meters that grew out of little-endian firmware).
"""

from __future__ import annotations

import struct

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from .base import Deadline, MeterError

TYPES = {  # type -> (words, struct format of the big-endian bytes)
    "int16": (1, ">h"),
    "uint16": (1, ">H"),
    "int32": (2, ">i"),
    "uint32": (2, ">I"),
    "float32": (2, ">f"),
    "int64": (4, ">q"),
    "uint64": (4, ">Q"),
    "float64": (4, ">d"),
}
MAX_REGISTERS_PER_READ = 125  # the Modbus limit for function codes 3 and 4
_EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def decode(registers: list[int], value_type: str, word_order: str = "big") -> float:
    words, fmt = TYPES[value_type]
    if len(registers) != words:
        raise ValueError(f"{value_type} needs {words} registers, got {len(registers)}")
    ordered = registers if word_order == "big" else list(reversed(registers))
    return struct.unpack(fmt, b"".join(word.to_bytes(2, "big") for word in ordered))[0]


class RegisterReader:
    """Reads holding or input registers from one unit, every request bounded by the read's deadline."""

    def __init__(self, host: str, port: int, unit_id: int, deadline: Deadline):
        self.host, self.port, self.unit_id, self.deadline = host, port, unit_id, deadline
        self.where = f"{host}:{port}"
        self.client: AsyncModbusTcpClient | None = None

    async def __aenter__(self) -> RegisterReader:
        left = self.deadline.remaining(f"connecting to {self.where}")
        # retries=0: the deadline, not pymodbus, decides how long we keep trying.
        self.client = AsyncModbusTcpClient(self.host, port=self.port, timeout=left, retries=0, reconnect_delay=0)
        try:
            connected = await self.client.connect()
        except (OSError, ModbusException) as error:
            raise MeterError(f"cannot connect to Modbus TCP at {self.where}: {error}") from None
        if not connected:
            if self.deadline.left() <= 0:
                raise MeterError(f"timeout after {self.deadline.timeout:g} s connecting to {self.where}")
            raise MeterError(f"cannot connect to Modbus TCP at {self.where} (connection refused or unreachable)")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()

    async def read(self, address: int, count: int, table: str = "holding") -> list[int]:
        """``count`` registers from ``address`` (0-based protocol address), in 125-register requests."""
        registers: list[int] = []
        while count > 0:
            size = min(count, MAX_REGISTERS_PER_READ)
            registers += await self._read_once(address, size, table)
            address, count = address + size, count - size
        return registers

    async def _read_once(self, address: int, count: int, table: str) -> list[int]:
        assert self.client is not None
        what = f"{table} registers {address}-{address + count - 1} from unit {self.unit_id} at {self.where}"
        # pymodbus waits timeout_connect for each answer; give it only what is left of the budget.
        self.client.ctx.comm_params.timeout_connect = self.deadline.remaining(f"reading {what}")
        method = self.client.read_holding_registers if table == "holding" else self.client.read_input_registers
        try:
            response = await method(address, count=count, device_id=self.unit_id)
        except ConnectionException as error:
            raise MeterError(f"Modbus connection to {self.where} lost while reading {what}: {_tidy(error)} "
                             "(is it a Modbus TCP server?)") from None
        except ModbusException as error:
            if self.deadline.left() <= 0 or "timeout" in str(error).lower() or "No response" in str(error):
                raise MeterError(f"timeout after {self.deadline.timeout:g} s: no Modbus response reading {what} "
                                 "(is it a Modbus TCP server? is the unit id right?)") from None
            raise MeterError(f"Modbus error reading {what}: {_tidy(error)}") from None
        if response.isError():
            code = getattr(response, "exception_code", 0)
            meaning = _EXCEPTIONS.get(code, "unknown")
            raise ModbusExceptionResponse(code, f"Modbus exception {code} ({meaning}) reading {what}")
        if len(response.registers) != count:
            raise MeterError(f"Modbus answer to {what} has {len(response.registers)} registers, expected {count}")
        return list(response.registers)


class ModbusExceptionResponse(MeterError):
    """The device answered with a Modbus exception (e.g. 2: no such register)."""

    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


def _tidy(error: Exception) -> str:
    return str(error).replace("Modbus Error: ", "").strip("[] ") or type(error).__name__
