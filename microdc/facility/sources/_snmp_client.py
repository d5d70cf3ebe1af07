"""A small SNMP GET / walk client over pysnmp's asyncio v3arch API, for v2c and v3 (USM).

One :class:`SnmpEngine` is kept per worker-thread event loop (building one costs about 0.1 s) and
reused for every meter that thread reads. OIDs are numeric strings; no MIB files are loaded. Every
SNMP failure is turned into a :class:`MeterError` with a reason an operator can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    usm3DESEDEPrivProtocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import rfc1902, rfc1905

from ._aio import LoopCache
from .base import Deadline, MeterError

AUTH_PROTOCOLS = {
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA224": usmHMAC128SHA224AuthProtocol,
    "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA384": usmHMAC256SHA384AuthProtocol,
    "SHA512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS = {
    "AES": usmAesCfb128Protocol,
    "AES192": usmAesCfb192Protocol,
    "AES256": usmAesCfb256Protocol,
    "DES": usmDESPrivProtocol,
    "3DES": usm3DESEDEPrivProtocol,
}
MAX_VARBINDS_PER_GET = 40  # keeps requests well below the usual 1472-byte UDP payload
MAX_WALK_ROWS = 2000
ENGINE_READS = 5000  # reads before a thread's SNMP engine is replaced by a fresh one

# pysnmp error indications -> what the operator should check
_INDICATIONS = {
    "UnknownUserName": "SNMPv3 authentication failed: unknown user name",
    "WrongDigest": "SNMPv3 authentication failed: wrong authentication key or protocol",
    "DecryptionError": "SNMPv3 decryption failed: wrong privacy key or protocol",
    "UnsupportedSecurityLevel": "SNMPv3 security level not supported for this user on the agent",
    "UnknownEngineID": "SNMPv3 engine discovery failed (unknown engine ID)",
    "NotInTimeWindow": "SNMPv3 message outside the agent's time window",
    "AuthorizationError": "SNMP access denied by the agent's view (authorizationError)",
}


@dataclass(frozen=True)
class SnmpTarget:
    host: str
    port: int
    version: str  # "2c" | "3"
    community: str = "public"
    username: str = ""
    security_level: str = "authPriv"
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"
    auth_key: str | None = None
    priv_key: str | None = None
    context: str = ""
    retries: int = 1

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class SnmpClient:
    """GET and walk against one agent, all within one read's deadline."""

    def __init__(self, target: SnmpTarget, deadline: Deadline, cache: LoopCache):
        self.target = target
        self.deadline = deadline
        self.engine = _engine(cache)
        self.auth = self._auth()
        self.context = ContextData(contextName=target.context.encode()) if target.version == "3" else ContextData()

    def _auth(self) -> CommunityData | UsmUserData:
        target = self.target
        if target.version == "2c":
            # v2c is what many UPSs and PDUs still speak; v3 is offered and documented as the better choice.
            return CommunityData(target.community, mpModel=1)  # noqa: S508
        auth = AUTH_PROTOCOLS[target.auth_protocol] if target.security_level != "noAuthNoPriv" else usmNoAuthProtocol
        priv = PRIV_PROTOCOLS[target.priv_protocol] if target.security_level == "authPriv" else usmNoPrivProtocol
        return UsmUserData(
            target.username,
            authKey=target.auth_key if auth is not usmNoAuthProtocol else None,
            privKey=target.priv_key if priv is not usmNoPrivProtocol else None,
            authProtocol=auth,
            privProtocol=priv,
        )

    async def _transport(self) -> UdpTransportTarget:
        self.deadline.remaining(waiting_for(self.target))
        # Split the budget over the tries. The per-try timeout derives from the meter's configured
        # timeout, not the time left: pysnmp keeps one target entry per distinct timeout for ever, so
        # a value that changed on every request would grow the engine's tables without end. The
        # caller's wait_for still stops the read at the deadline.
        per_try = max(0.05, round(self.deadline.timeout * 0.9 / (self.target.retries + 1), 2))
        try:
            return await UdpTransportTarget.create(
                (self.target.host, self.target.port), timeout=per_try, retries=self.target.retries
            )
        except Exception as error:  # name resolution failures surface as assorted pysnmp errors
            raise MeterError(f"cannot resolve SNMP agent address {self.target.host!r}: {error}") from None

    async def get(self, oids: list[str]) -> dict[str, object]:
        """Values by OID; a missing object comes back as pysnmp's NoSuchObject / NoSuchInstance value."""
        values: dict[str, object] = {}
        for start in range(0, len(oids), MAX_VARBINDS_PER_GET):
            chunk = oids[start : start + MAX_VARBINDS_PER_GET]
            indication, status, index, var_binds = await get_cmd(
                self.engine, self.auth, await self._transport(), self.context,
                *(ObjectType(ObjectIdentity(oid)) for oid in chunk), lookupMib=False,
            )
            self._check(indication, status, index, var_binds, chunk)
            for name, value in var_binds:
                values[str(name)] = value
        return values

    async def walk(self, prefix: str) -> dict[str, object]:
        """Every object below ``prefix`` (GETBULK), in OID order."""
        rows: dict[str, object] = {}
        cursor = prefix
        while True:
            indication, status, index, var_binds = await bulk_cmd(
                self.engine, self.auth, await self._transport(), self.context, 0, 25,
                ObjectType(ObjectIdentity(cursor)), lookupMib=False,
            )
            self._check(indication, status, index, var_binds, [cursor])
            if not var_binds:
                return rows
            for name, value in var_binds:
                oid = str(name)
                if not oid.startswith(prefix + ".") or isinstance(value, rfc1905.EndOfMibView):
                    return rows
                rows[oid] = value
                cursor = oid
            if len(rows) > MAX_WALK_ROWS:
                raise MeterError(f"SNMP walk of {prefix} returned more than {MAX_WALK_ROWS} objects")

    def _check(self, indication: object, status: object, index: object, var_binds: object, oids: list[str]) -> None:
        if indication:
            name = type(indication).__name__
            if name == "RequestTimedOut":
                raise self.deadline.expired_error(waiting_for(self.target))
            reason = _INDICATIONS.get(name, f"SNMP error: {indication}")
            raise MeterError(f"{reason} ({self.target.where})")
        if status and int(status):  # type: ignore[call-overload]
            position = int(index) - 1 if index else 0  # type: ignore[call-overload]
            oid = oids[position] if 0 <= position < len(oids) else oids[0]
            raise MeterError(f"SNMP error: {status.prettyPrint()} for {oid}")  # type: ignore[attr-defined]


def _engine(cache: LoopCache) -> SnmpEngine:
    """This loop's SNMP engine, replaced now and then: pysnmp adds an entry to its tables for every
    new agent, community or user it talks to and never removes one, so a long-lived engine would
    keep growing as meters come and go."""
    cache["snmp_reads"] = cache.get("snmp_reads", 0) + 1
    engine = cache.get("snmp_engine")
    if engine is not None and cache["snmp_reads"] > ENGINE_READS:
        engine.close_dispatcher()
        cache["_closers"].remove(engine.close_dispatcher)
        engine = None
    if engine is None:
        engine = cache["snmp_engine"] = SnmpEngine()
        cache["snmp_reads"] = 1
        cache.setdefault("_closers", []).append(engine.close_dispatcher)
    return engine


def waiting_for(target: SnmpTarget) -> str:
    """How a timeout is worded: agents stay silent on a wrong community or undecryptable request."""
    hint = (
        "check host, port and community: agents ignore a wrong community"
        if target.version == "2c"
        else "check host, port, user and privacy key: agents ignore requests they cannot decrypt"
    )
    return f"waiting for an SNMP response from {target.where} ({hint})"


def missing(value: object) -> str | None:
    """'noSuchObject' / 'noSuchInstance' / 'endOfMibView' when the agent has no such object, else None."""
    if isinstance(value, rfc1905.NoSuchObject):
        return "noSuchObject"
    if isinstance(value, rfc1905.NoSuchInstance):
        return "noSuchInstance"
    if isinstance(value, rfc1905.EndOfMibView):
        return "endOfMibView"
    return None


def number(value: object, oid: str) -> float:
    """An SNMP value as a number (integers, gauges, counters, timeticks, or a numeric string)."""
    if isinstance(value, rfc1902.OctetString):
        text = value.asOctets().decode("ascii", "replace").strip()
        try:
            return float(text)
        except ValueError:
            raise MeterError(f"SNMP value at {oid} is the string {text!r}, not a number") from None
    if isinstance(value, rfc1902.Integer | rfc1902.Integer32 | rfc1902.Unsigned32 | rfc1902.Gauge32
                  | rfc1902.Counter32 | rfc1902.Counter64 | rfc1902.TimeTicks):
        return float(int(value))
    raise MeterError(f"SNMP value at {oid} is a {type(value).__name__}, not a number")
