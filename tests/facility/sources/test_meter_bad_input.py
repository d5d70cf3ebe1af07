"""Meters that hang, answer garbage, or speak another protocol fail fast with a reason an operator can use."""

from __future__ import annotations

import json
import socket
import time

import pytest

from microdc.facility.sources import MeterError, get_source

pytestmark = pytest.mark.integration

TIMEOUT = 1.5
MARGIN = 0.75  # scheduling slack on a busy 2-core machine

SETTINGS = {
    "redfish": ({"resource": "/redfish/v1/PowerEquipment/RackPDUs/1", "scheme": "http"},
                {"username": "u", "password": "p"}),
    "snmp": ({"profile": "ups_mib"}, {}),
    "modbus": ({"mode": "sunspec"}, {}),
    "promql": ({"queries": [{"query": "up", "quantity": "power_watts"}]}, {}),
}


def fail(protocol: str, port: int, timeout: float = TIMEOUT, **overrides) -> tuple[str, float]:
    settings, secret = SETTINGS[protocol]
    started = time.monotonic()
    with pytest.raises(MeterError) as caught:
        get_source(protocol).read("127.0.0.1", port, {**settings, **overrides}, secret, timeout)
    return str(caught.value), time.monotonic() - started


@pytest.mark.parametrize("protocol", ["redfish", "modbus", "promql"])
def test_tcp_meter_that_never_answers_times_out_within_the_budget(protocol, silent_tcp):
    message, elapsed = fail(protocol, silent_tcp.port)
    assert elapsed < TIMEOUT + MARGIN
    assert "timeout after 1.5 s" in message
    assert "127.0.0.1" in message


def test_snmp_agent_that_never_answers_times_out_within_the_budget(silent_udp):
    message, elapsed = fail("snmp", silent_udp.port)
    assert elapsed < TIMEOUT + MARGIN
    assert message.startswith("timeout after 1.5 s")
    assert f"127.0.0.1:{silent_udp.port}" in message


@pytest.mark.parametrize("protocol", ["redfish", "modbus", "promql"])
def test_nothing_listening_is_refused_at_once(protocol):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    message, elapsed = fail(protocol, port)
    assert elapsed < 1.0  # refused at once, not after the timeout
    assert "refused" in message or "cannot connect" in message


def _html(handler) -> None:
    body = b"<html><body>Welcome to the PDU web interface</body></html>"
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize("protocol", ["redfish", "promql"])
def test_http_200_that_is_not_json_is_garbage(protocol, http_server):
    peer = http_server(_html)
    message, _ = fail(protocol, peer.port)
    assert message.startswith("not JSON from http://127.0.0.1")
    assert "HTTP 200, content-type text/html" in message
    assert "Welcome to the PDU" in message


def test_json_that_is_not_a_redfish_resource(http_server):
    def answer(handler) -> None:
        body = json.dumps([1, 2, 3]).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    message, _ = fail("redfish", http_server(answer).port)
    assert "is JSON but not a Redfish resource" in message


def test_http_server_asked_over_modbus_is_the_wrong_protocol(http_server):
    peer = http_server(_html)
    message, elapsed = fail("modbus", peer.port, timeout=2.0)
    assert elapsed < 2.0 + MARGIN
    assert "is it a Modbus TCP server?" in message


def test_modbus_device_asked_over_http_is_the_wrong_protocol(modbus_server_class):
    with modbus_server_class({1: {"holding": {0: [0] * 4}}}) as server:
        message, elapsed = fail("redfish", server.port, timeout=2.0)
    assert elapsed < 2.0 + MARGIN
    assert "is it an HTTP server?" in message or "timeout after 2 s" in message


def test_invalid_settings_at_read_time_are_a_meter_error_naming_the_field():
    with pytest.raises(MeterError, match=r"invalid settings: profile: must be one of"):
        get_source("snmp").read("127.0.0.1", 161, {"profile": "nonsense"}, {}, 1.0)
