"""PromQL source against a real Prometheus (apt: prometheus) scraping a tiny exporter on loopback."""

from __future__ import annotations

import pytest

from microdc.facility.sources import MeterError, Reading, get_source

pytestmark = pytest.mark.integration

SERIES = {  # what the exporter serves
    'pdu_power_watts{rack="a",pdu="1"}': 1500.5,
    'pdu_power_watts{rack="a",pdu="2"}': 1499.25,
    'pdu_power_watts{rack="b",pdu="3"}': 2000.0,
    'pdu_energy_kwh_total{rack="a"}': 1234.5,
    'cdu_flow_lpm{loop="secondary"}': 42.5,
}


@pytest.fixture(scope="module")
def prometheus(start_prometheus) -> int:
    return start_prometheus(SERIES)


def read(port: int, queries: list[dict], **settings) -> dict[tuple[str, str], Reading]:
    readings = get_source("promql").read("127.0.0.1", port, {"queries": queries, **settings}, {}, 5.0)
    return {(r.quantity, r.channel): r for r in readings}


def test_queries_become_readings_with_scale(prometheus):
    readings = read(prometheus, [
        {"query": 'sum(pdu_power_watts{rack="a"})', "quantity": "power_watts", "channel": "rack.a"},
        {"query": 'pdu_energy_kwh_total{rack="a"}', "quantity": "energy_joules", "scale": 3.6e6},
        {"query": "cdu_flow_lpm", "quantity": "flow_liters_per_minute", "channel": "secondary"},
        {"query": "scalar(sum(pdu_power_watts))", "quantity": "power_watts"},
    ])
    assert readings[("power_watts", "rack.a")].value == 1500.5 + 1499.25
    assert readings[("energy_joules", "")].value == 1234.5 * 3.6e6
    assert readings[("flow_liters_per_minute", "secondary")].value == 42.5
    assert readings[("power_watts", "")].value == 1500.5 + 1499.25 + 2000.0


def test_channel_label_turns_each_series_into_a_channel(prometheus):
    readings = read(prometheus, [
        {"query": "sum by (rack) (pdu_power_watts)", "quantity": "power_watts", "channel": "rack",
         "channel_label": "rack"},
    ])
    assert readings == {
        ("power_watts", "rack.a"): Reading("power_watts", 1500.5 + 1499.25, "rack.a"),
        ("power_watts", "rack.b"): Reading("power_watts", 2000.0, "rack.b"),
    }


def test_empty_result_is_missing_data_not_zero(prometheus):
    with pytest.raises(MeterError, match=r"'pdu_power_watts\{rack=\"zzz\"\}' returned no data"):
        read(prometheus, [{"query": 'pdu_power_watts{rack="zzz"}', "quantity": "power_watts"}])


def test_several_series_without_a_channel_label_is_refused(prometheus):
    with pytest.raises(MeterError, match=r"returned 3 series; wrap it in sum\(\.\.\.\) or set channel_label"):
        read(prometheus, [{"query": "pdu_power_watts", "quantity": "power_watts"}])


def test_bad_query_reports_prometheus_error(prometheus):
    with pytest.raises(MeterError, match=r"Prometheus rejected 'sum\(pdu_power_watts': bad_data"):
        read(prometheus, [{"query": "sum(pdu_power_watts", "quantity": "power_watts"}])


def test_wrong_path_prefix_is_an_http_error(prometheus):
    with pytest.raises(MeterError, match=r"HTTP 404 from http://127\.0\.0\.1:\d+/nothing/api/v1/query"):
        read(prometheus, [{"query": "cdu_flow_lpm", "quantity": "flow_liters_per_minute"}], path_prefix="/nothing")
