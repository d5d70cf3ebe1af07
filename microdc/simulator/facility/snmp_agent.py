"""A simulated UPS speaking SNMP v2c and v3 (pysnmp command responder in a thread of its own).

It serves RFC 1628 UPS-MIB values computed from the facility model on every request (three input
and three output lines, battery, output source) plus the system group, with sysDescr saying it is
simulated. Extra communities map to their own SNMP contexts (same UPS), which lets one agent stand
in for many meters in the poll benchmark.
"""

from __future__ import annotations

import asyncio
import bisect
import socket
import threading
import time
from collections.abc import Callable

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi import instrum

from .model import FacilityModel, Snapshot

SYS_DESCR = "microdc simulated UPS (not real hardware)"
UPS = (1, 3, 6, 1, 2, 1, 33, 1)
LINE_VOLTAGE = 230
FREQUENCY_TENTHS = 500
OUTPUT_SOURCE_NORMAL = 3
BATTERY_NORMAL = 2

Table = dict[tuple[int, ...], object]


def ups_table(snapshot: Snapshot, started: float) -> Table:
    """The UPS-MIB and system-group objects for one moment, keyed by OID."""
    powers = snapshot.powers
    line_rating = snapshot.ups_rating_watts / 3
    input_line, output_line = powers.ups_input / 3, powers.ups_output / 3
    load = powers.ups_output / snapshot.ups_rating_watts
    table: Table = {
        (1, 3, 6, 1, 2, 1, 1, 1, 0): rfc1902.OctetString(SYS_DESCR),
        (1, 3, 6, 1, 2, 1, 1, 2, 0): rfc1902.ObjectIdentifier(UPS[:-1]),
        (1, 3, 6, 1, 2, 1, 1, 3, 0): rfc1902.TimeTicks(int((time.monotonic() - started) * 100)),
        (1, 3, 6, 1, 2, 1, 1, 5, 0): rfc1902.OctetString("sim-ups"),
        (*UPS, 1, 1, 0): rfc1902.OctetString("microdc simulator"),
        (*UPS, 1, 2, 0): rfc1902.OctetString("Simulated UPS"),
        (*UPS, 2, 1, 0): rfc1902.Integer32(BATTERY_NORMAL),
        (*UPS, 2, 2, 0): rfc1902.Integer32(0),
        (*UPS, 2, 3, 0): rfc1902.Integer32(max(1, round(min(240.0, 15.0 / max(load, 0.01))))),
        (*UPS, 2, 4, 0): rfc1902.Integer32(100),
        (*UPS, 2, 7, 0): rfc1902.Integer32(25),
        (*UPS, 3, 2, 0): rfc1902.Integer32(3),
        (*UPS, 4, 1, 0): rfc1902.Integer32(OUTPUT_SOURCE_NORMAL),
        (*UPS, 4, 2, 0): rfc1902.Integer32(FREQUENCY_TENTHS),
        (*UPS, 4, 3, 0): rfc1902.Integer32(3),
    }
    for line in (1, 2, 3):
        table[(*UPS, 3, 3, 1, 1, line)] = rfc1902.Integer32(line)
        table[(*UPS, 3, 3, 1, 2, line)] = rfc1902.Integer32(FREQUENCY_TENTHS)
        table[(*UPS, 3, 3, 1, 3, line)] = rfc1902.Integer32(LINE_VOLTAGE)
        table[(*UPS, 3, 3, 1, 4, line)] = rfc1902.Integer32(round(input_line / LINE_VOLTAGE * 10))
        table[(*UPS, 3, 3, 1, 5, line)] = rfc1902.Integer32(round(input_line))
        table[(*UPS, 4, 4, 1, 1, line)] = rfc1902.Integer32(line)
        table[(*UPS, 4, 4, 1, 2, line)] = rfc1902.Integer32(LINE_VOLTAGE)
        table[(*UPS, 4, 4, 1, 3, line)] = rfc1902.Integer32(round(output_line / LINE_VOLTAGE * 10))
        table[(*UPS, 4, 4, 1, 4, line)] = rfc1902.Integer32(round(output_line))
        table[(*UPS, 4, 4, 1, 5, line)] = rfc1902.Integer32(round(output_line / line_rating * 100))
    return table


class _LiveTable(instrum.AbstractMibInstrumController):
    """Answers GET / GETNEXT (and so GETBULK) from a table rebuilt for each request.

    Access control is deliberately absent (every configured community and user may read every
    object): this agent exists to be read.
    """

    def __init__(self, build: Callable[[], Table]):
        self.build = build

    def read_variables(self, *var_binds, **_context):
        table = self.build()
        return [(name, table.get(tuple(name), rfc1905.noSuchObject)) for name, _ in var_binds]

    def read_next_variables(self, *var_binds, **_context):
        table = self.build()
        keys = sorted(table)
        answers = []
        for name, _ in var_binds:
            position = bisect.bisect_right(keys, tuple(name))
            if position < len(keys):
                answers.append((rfc1902.ObjectName(keys[position]), table[keys[position]]))
            else:
                answers.append((name, rfc1905.endOfMibView))
        return answers


class SnmpAgent:
    """The UPS agent on ``host:port`` (port 0 picks a free one). v2c communities and one v3 user."""

    def __init__(
        self,
        model: FacilityModel,
        host: str,
        port: int,
        community: str,
        v3_user: str,
        v3_auth_key: str,
        v3_priv_key: str,
        extra_communities: list[str] | None = None,
    ):
        self.model = model
        self.community, self.extra_communities = community, list(extra_communities or [])
        self.v3_user, self.v3_auth_key, self.v3_priv_key = v3_user, v3_auth_key, v3_priv_key
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.started = time.monotonic()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="sim-snmp", daemon=True)

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(10) or self.failure:
            raise RuntimeError(f"simulated SNMP agent did not start: {self.failure}")

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            snmp_engine = self._configure()
        except BaseException as error:  # report to start() rather than die silently in the thread
            self.failure = error
            self.ready.set()
            return
        self.loop.call_soon(self.ready.set)
        try:
            self.loop.run_forever()
        finally:
            snmp_engine.close_dispatcher()
            # Let the dispatcher's cancelled timer task finish, then close the loop cleanly.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()
            self.sock.close()

    def _configure(self) -> engine.SnmpEngine:
        snmp_engine = engine.SnmpEngine()
        transport = udp.UdpAsyncioTransport(loop=self.loop).open_server_mode(sock=self.sock)
        config.add_transport(snmp_engine, udp.DOMAIN_NAME, transport)
        live = _LiveTable(lambda: ups_table(self.model.snapshot(), self.started))
        snmp_context = context.SnmpContext(snmp_engine)
        snmp_context.unregister_context_name(b"")
        snmp_context.register_context_name(b"", live)
        config.add_v1_system(snmp_engine, "sim-default", self.community)
        for index, name in enumerate(self.extra_communities):
            config.add_v1_system(snmp_engine, f"sim-{index}", name, contextName=name)
            snmp_context.register_context_name(name, live)
        config.add_v3_user(
            snmp_engine, self.v3_user,
            config.USM_AUTH_HMAC96_SHA, self.v3_auth_key,
            config.USM_PRIV_CFB128_AES, self.v3_priv_key,
        )
        for responder in (cmdrsp.GetCommandResponder, cmdrsp.NextCommandResponder, cmdrsp.BulkCommandResponder):
            responder(snmp_engine, snmp_context)
        snmp_engine.transport_dispatcher.job_started(1)  # keep the dispatcher serving
        return snmp_engine
