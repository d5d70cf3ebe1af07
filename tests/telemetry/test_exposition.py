"""The appliance's text-format writer gives the very bytes prometheus-client's generate_latest gives, over
every family a full /metrics holds, and over odd label values and numbers."""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from microdc.api.exposition import render
from microdc.api.metrics import registry
from tests.monitoring.test_grafana_dashboard import seed


class Fixed:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return iter(self.families)


def library(families) -> bytes:
    holder = CollectorRegistry(auto_describe=False)
    holder.register(Fixed(families))
    return generate_latest(holder)


def test_odd_values_and_numbers_are_written_as_the_library_writes_them():
    gauge = GaugeMetricFamily("microdc_test_value", 'help with \\ and\na "quote"', labels=["site", "node"])
    for value, labels in ((0.5, ["a", "b"]), (1e21, ['q"uote', "back\\slash"]), (123456789012345.0, ["new\nline", ""]),
                          (float("nan"), ["ü", "x"]), (float("inf"), ["a", "c"]), (-0.0, ["a", "d"]), (3, ["a", "e"]),
                          (10**20, ["a", "f"]), (2.5e-5, ["a", "g"])):
        gauge.add_metric(labels, value)
    counter = CounterMetricFamily("microdc_test_joules", "a counter", labels=["gpu"])
    counter.add_metric(["0"], 1.5e16)
    plain = GaugeMetricFamily("microdc_test_plain", "no labels", value=7.0)
    histogram = HistogramMetricFamily("microdc_test_seconds", "a histogram", labels=["site"])
    histogram.add_metric(["a"], buckets=[("0.1", 2.0), ("1.0", 5.0), ("+Inf", 6.0)], sum_value=3.25)
    families = [gauge, counter, plain, histogram]
    assert render(families) == library(families)


def test_a_full_scrape_is_written_as_the_library_writes_it(site, rack, live_appliance):
    seed(site, rack, live_appliance)  # GPUs, meters with PUE, the ledger, an alert: every collector has families
    families = list(registry().collect())
    assert len(families) > 30
    assert render(families) == library(families)
