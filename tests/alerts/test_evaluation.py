"""Rules and states: every built-in rule fires on its condition and stays quiet on healthy data; pending, firing,
keep_firing_for, missing data and resolve behave as Prometheus and Grafana define them."""

import pytest

from microdc.alerts.evaluation import evaluate
from microdc.alerts.labels import fingerprint
from microdc.alerts.models import Alert, AlertRule
from microdc.nodes.models import Node

from .rig import Site, at


@pytest.fixture
def rig(site, rack):
    # The rig's push meters carry no energy counters: its PUE is incomplete by construction (tested apart).
    AlertRule.objects.filter(scope="site").update(enabled=False)
    return Site(site, rack)


def firing() -> dict[str, Alert]:
    return {a.labels["alertname"]: a for a in Alert.objects.filter(state="firing")}


def healthy(rig, t, gpus=(0, 1)):
    for i in gpus:
        rig.gpu(i, t, ecc_uncorrected_errors_total=0)
    rig.channel(rig.ups, "output", t, on_battery=0.0, battery_runtime_seconds=1800.0, battery_charge_ratio=1.0,
                power_watts=5000.0)
    rig.channel(rig.pdu, "branch.1", t, current_amperes=8.0, load_ratio=0.4)
    rig.channel(rig.cdu, "secondary.1.supply", t, temperature_celsius=18.0)
    rig.channel(rig.cdu, "secondary.1", t, flow_liters_per_minute=40.0)
    rig.channel(rig.cdu, "leak.1", t, leak_detected=0.0)


@pytest.mark.django_db
def test_the_built_in_rules_are_installed_by_migrate():
    keys = set(AlertRule.objects.filter(builtin=True).values_list("key", flat=True))
    assert {"node_agent_silent", "gpu_temperature_high", "gpu_ecc_uncorrectable", "ups_on_battery", "leak_detected",
            "breaker_current_high", "pue_above_target", "meter_unreadable"} <= keys


@pytest.mark.django_db
def test_nothing_fires_on_a_healthy_site(rig):
    for t in range(0, 900, 10):
        healthy(rig, t)
        evaluate(at(t))
    assert not Alert.objects.exists(), list(Alert.objects.values_list("labels", "annotations"))


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "set_up", "severity"), [
    ("gpu_ecc_uncorrectable", lambda r, t: r.gpu(1, t, ecc_uncorrected_errors_total=3), "critical"),
    ("ups_on_battery", lambda r, t: r.channel(r.ups, "output", t, on_battery=1.0, battery_runtime_seconds=1500.0,
                                              battery_charge_ratio=0.9), "critical"),
    ("ups_runtime_low", lambda r, t: r.channel(r.ups, "output", t, on_battery=0.0, battery_runtime_seconds=300.0,
                                               battery_charge_ratio=0.9), "critical"),
    ("leak_detected", lambda r, t: r.channel(r.cdu, "leak.1", t, leak_detected=1.0), "critical"),
    ("breaker_current_high", lambda r, t: r.channel(r.pdu, "branch.1", t, current_amperes=14.0, load_ratio=0.5),
     "warning"),
    ("pdu_load_high", lambda r, t: r.channel(r.pdu, "branch.1", t, current_amperes=8.0, load_ratio=0.9), "warning"),
    ("cooling_supply_temperature_high", lambda r, t: r.channel(r.cdu, "secondary.1.supply", t,
                                                               temperature_celsius=35.0), "warning"),
    ("coolant_flow_low", lambda r, t: r.channel(r.cdu, "secondary.1", t, flow_liters_per_minute=1.0), "warning"),
    ("gpu_slowdown", lambda r, t: r.gpu(0, t, throttle=["hw_thermal_slowdown"]), "warning"),
    ("gpu_temperature_high", lambda r, t: r.gpu(0, t, temperature_celsius=91.0), "warning"),
    ("meter_state", lambda r, t: r.channel(r.pdu, "outlet.3", t, states={"power_watts": "critical"},
                                           power_watts=100.0), "critical"),
])
def test_each_built_in_rule_fires_on_its_condition(rig, name, set_up, severity):
    rule = AlertRule.objects.get(key=name)
    for t in range(0, rule.for_seconds + 30, 10):
        healthy(rig, t)
        set_up(rig, t)
        evaluate(at(t))
    alert = firing().get(name)
    assert alert is not None, f"{name} did not fire: {list(Alert.objects.values_list('labels', 'state'))}"
    assert alert.severity == severity and alert.labels["severity"] == severity
    assert alert.fingerprint == fingerprint(alert.labels) and alert.labels["site"] == rig.site.slug
    assert alert.annotations["summary"] and alert.annotations["description"] and alert.url
    assert set(firing()) == {name}, "only the rule whose condition holds"


@pytest.mark.django_db
def test_pending_until_for_elapses_then_firing_then_resolved(rig):
    for t in range(0, 590, 10):
        healthy(rig, t)
        rig.gpu(0, t, temperature_celsius=90.0)
        evaluate(at(t))
    alert = Alert.objects.get(labels__alertname="gpu_temperature_high")
    assert (alert.state, alert.starts_at) == ("pending", None) and alert.active_at == at(0)
    healthy(rig, 600)
    rig.gpu(0, 600, temperature_celsius=90.0)
    evaluate(at(600))
    alert.refresh_from_db()
    assert alert.state == "firing" and alert.starts_at == at(600)
    # Cooled: still firing for keep_firing_for (120 s), then resolved with its end.
    for t in range(610, 720, 10):
        healthy(rig, t)
        evaluate(at(t))
    alert.refresh_from_db()
    assert alert.state == "firing"
    healthy(rig, 730)
    evaluate(at(730))
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.ends_at == at(730)


@pytest.mark.django_db
def test_a_pending_alert_whose_condition_clears_is_dropped_as_prometheus_does(rig):
    healthy(rig, 0)
    rig.gpu(0, 0, temperature_celsius=90.0)
    evaluate(at(0))
    assert Alert.objects.filter(state="pending").count() == 1
    healthy(rig, 10)
    evaluate(at(10))
    assert not Alert.objects.exists()


@pytest.mark.django_db
def test_a_value_flapping_around_its_threshold_gives_one_alert_not_fifty(rig):
    rule = AlertRule.objects.get(key="breaker_current_high")
    rule.for_seconds, rule.keep_firing_for_seconds = 0, 120
    rule.save()
    for step in range(100):
        t = step * 10
        healthy(rig, t)
        rig.channel(rig.pdu, "branch.1", t, current_amperes=13.0 if step % 2 else 12.6, load_ratio=0.5)
        evaluate(at(t))
    assert Alert.objects.filter(labels__alertname="breaker_current_high").count() == 1


@pytest.mark.django_db
def test_a_silent_agent_fires_and_its_gpus_alerts_wait_as_missing_data(rig):
    for t in range(0, 40, 10):
        healthy(rig, t)
        rig.gpu(1, t, ecc_uncorrected_errors_total=2)
        evaluate(at(t))
    ecc = Alert.objects.get(labels__alertname="gpu_ecc_uncorrectable")
    assert ecc.state == "firing"
    # The agent goes silent: its GPU's alert is not resolved by the silence; it waits as nodata.
    for t in range(40, 400, 10):
        evaluate(at(t))
    ecc.refresh_from_db()
    assert ecc.state == "nodata" and ecc.nodata_since is not None
    assert firing()["node_agent_silent"].severity == "critical"
    # Back, still broken: firing again, the same alert (same episode).
    rig.gpu(1, 400, ecc_uncorrected_errors_total=2)
    rig.gpu(0, 400)
    evaluate(at(400))
    ecc.refresh_from_db()
    assert ecc.state == "firing" and Alert.objects.filter(labels__alertname="gpu_ecc_uncorrectable").count() == 1


@pytest.mark.django_db
def test_a_gpu_gone_from_a_reporting_node_is_critical(rig):
    rule = AlertRule.objects.get(key="gpu_missing")
    for t in range(0, rule.for_seconds + 300, 10):  # stale after 120 s, then `for`
        # GPU 1 is no longer reported after 100 s; the agent (and GPU 0) still are.
        healthy(rig, t, gpus=(0, 1) if t < 100 else (0,))
        evaluate(at(t))
    alert = firing()["gpu_missing"]
    assert alert.labels["gpu"] == "1" and alert.severity == "critical"


@pytest.mark.django_db
def test_a_retired_node_resolves_its_alerts(rig):
    for t in range(0, 30, 10):
        healthy(rig, t)
        rig.gpu(1, t, ecc_uncorrected_errors_total=1)
        evaluate(at(t))
    Node.objects.filter(pk=rig.node.pk).update(retired_at=at(30))
    evaluate(at(40))
    alert = Alert.objects.get(labels__alertname="gpu_ecc_uncorrectable")
    assert alert.state == "resolved" and "no longer evaluated" in alert.annotations["resolved"]


@pytest.mark.django_db
def test_an_admin_rule_on_a_meter_channel_and_one_on_a_gpu_metric(rig):
    AlertRule.objects.create(key="ups-load-high", name="UPS load high", scope="meter", metric="power_watts",
                             operator=">", threshold=8000, severity="warning",
                             matchers=[{"name": "meter", "value": "UPS-1", "isRegex": False, "isEqual": True}])
    AlertRule.objects.create(key="gpu-memory-hot", name="HBM hot", scope="gpu", metric="memory_temperature_celsius",
                             operator=">=", threshold=95, severity="critical")
    healthy(rig, 0)
    rig.channel(rig.ups, "output", 0, on_battery=0.0, battery_runtime_seconds=1800.0, battery_charge_ratio=1.0,
                power_watts=9000.0)
    rig.gpu(0, 0, memory_temperature_celsius=97.0)
    evaluate(at(0))
    alerts = firing()
    assert alerts["ups-load-high"].labels["meter"] == "UPS-1" and alerts["ups-load-high"].value == 9000.0
    assert alerts["gpu-memory-hot"].labels["gpu"] == "0" and alerts["gpu-memory-hot"].severity == "critical"


@pytest.mark.django_db
def test_a_disabled_rule_resolves_what_it_raised(rig):
    healthy(rig, 0)
    rig.channel(rig.cdu, "leak.1", 0, leak_detected=1.0)
    evaluate(at(0))
    AlertRule.objects.filter(key="leak_detected").update(enabled=False)
    evaluate(at(10))
    assert Alert.objects.get(labels__alertname="leak_detected").state == "resolved"
