"""The built-in alert rules: what a micro data center must hear about, with defaults an admin may change.

Each rule's condition lives in microdc.alerts.conditions (by key); its threshold, durations, severity and
whether it runs are rows an admin edits through /api/v1/alert-rules/. ``install_builtin_rules`` (after every
migrate) adds the rules a release brings and never overwrites an admin's edits.
"""

from dataclasses import dataclass

from .models import AlertRule, Severity

Scope = AlertRule.Scope
Op = AlertRule.Operator


@dataclass(frozen=True)
class Builtin:
    key: str
    name: str
    description: str
    scope: str
    metric: str
    operator: str
    threshold: float | None
    for_seconds: int = 0
    keep_firing_for_seconds: int = 0
    severity: str = Severity.WARNING
    window: str = ""


BUILTIN: tuple[Builtin, ...] = (
    Builtin("node_agent_silent", "Node agent silent",
            "The node's agent has pushed no telemetry for longer than the threshold (seconds): the node, its "
            "network or the agent is down. Its GPUs' own alerts wait as missing data.",
            Scope.NODE, "agent_silent_seconds", Op.GT, 120, severity=Severity.CRITICAL),
    Builtin("gpu_temperature_high", "GPU temperature high",
            "An accelerator's core temperature at or above the threshold for the duration: check its airflow, "
            "the rack inlet temperature and the cooling unit.",
            Scope.GPU, "temperature_celsius", Op.GE, 85, for_seconds=600, keep_firing_for_seconds=120),
    Builtin("gpu_slowdown", "GPU hardware or thermal slowdown",
            "The accelerator reports a hardware slowdown, a thermal slowdown or a power brake (NVML clock-event "
            "reasons) for the duration: it is running slower than it should.",
            Scope.GPU, "slowdown_active", Op.GT, 0, for_seconds=300, keep_firing_for_seconds=60),
    Builtin("gpu_ecc_uncorrectable", "Uncorrectable GPU memory errors",
            "The accelerator counted uncorrectable ECC errors since its driver loaded: results may be wrong; "
            "drain it and plan a reset or a replacement.",
            Scope.GPU, "ecc_uncorrected_errors_total", Op.GT, 0, severity=Severity.CRITICAL),
    Builtin("gpu_missing", "GPU gone from its node",
            "An accelerator the inventory holds is no longer reported by its node's agent, while the agent is "
            "up: fallen off the bus, driver trouble, or removed.",
            Scope.GPU, "missing", Op.GT, 0, for_seconds=60, severity=Severity.CRITICAL),
    Builtin("ups_on_battery", "UPS on battery",
            "The UPS runs on battery: the utility feed is lost. Runtime is limited.",
            Scope.METER, "on_battery", Op.GT, 0, severity=Severity.CRITICAL),
    Builtin("ups_runtime_low", "UPS battery runtime low",
            "The UPS reports less battery runtime (seconds) than the threshold at the present load.",
            Scope.METER, "battery_runtime_seconds", Op.LT, 600, severity=Severity.CRITICAL),
    Builtin("ups_charge_low", "UPS battery charge low",
            "The UPS battery's charge is below the threshold (0-1).",
            Scope.METER, "battery_charge_ratio", Op.LT, 0.5, for_seconds=60),
    Builtin("pdu_load_high", "PDU load high",
            "A PDU (or its outlet group) is loaded above the threshold of its capacity (0-1).",
            Scope.METER, "load_ratio", Op.GE, 0.8, for_seconds=60, keep_firing_for_seconds=60),
    Builtin("breaker_current_high", "Breaker current near its rating",
            "A channel's current is at or above the threshold share of its breaker's rated current "
            "(breaker_ratings_amperes on the meter): a breaker trip takes the rack down.",
            Scope.METER, "breaker_load_ratio", Op.GE, 0.8, for_seconds=60, keep_firing_for_seconds=60),
    Builtin("cooling_supply_temperature_high", "Cooling supply temperature high",
            "A cooling unit's supply (the coolant or air it delivers) is warmer than the threshold (°C). The default "
            "is ASHRAE liquid-cooling class W32's upper bound; for an air-cooled unit's supply set 27 °C.",
            Scope.METER, "supply_temperature_celsius", Op.GT, 32, for_seconds=120, keep_firing_for_seconds=60),
    Builtin("coolant_flow_low", "Coolant flow low",
            "A cooling unit's coolant flow (L/min) is below the threshold: a pump or a valve is failing.",
            Scope.METER, "flow_liters_per_minute", Op.LT, 5, for_seconds=60, keep_firing_for_seconds=60),
    Builtin("leak_detected", "Leak detected",
            "A leak detector reports liquid: act now.",
            Scope.METER, "leak_detected", Op.GT, 0, severity=Severity.CRITICAL),
    Builtin("meter_state", "Meter reports a problem",
            "A facility meter itself reports a warning or a critical state on a channel (its Status.Health or "
            "alarm flags); the alert's severity follows the device's.",
            Scope.METER, "device_state", Op.GE, 1, for_seconds=0),
    Builtin("meter_unreadable", "Meter unreadable",
            "The appliance cannot read the meter (errors or no reading for three poll intervals): PUE and "
            "power budgets lose its figures.",
            Scope.METER, "unreadable", Op.GT, 0, for_seconds=60),
    Builtin("power_capped_by_policy", "Power policy capping accelerators",
            "A power policy holds caps on the accelerators behind one limit of the room: a budget over a breaker, a "
            "UPS or the feed, a UPS on battery, a cooling unit in alarm. Model servers run slower until it lifts "
            "them (the facility page's timeline shows each step).",
            Scope.SITE, "accelerators_capped", Op.GT, 0),
    Builtin("pue_incomplete", "PUE incomplete",
            "The site's PUE over the window cannot be computed from energy (meters missing or stale) for longer "
            "than the duration.",
            Scope.SITE, "pue_incomplete", Op.GT, 0, for_seconds=900, window="1h"),
    Builtin("pue_above_target", "PUE above the site's target",
            "The site's PUE over the window is above its target (Site.pue_target, else the threshold).",
            Scope.SITE, "pue_ratio", Op.GT, 1.6, for_seconds=900, keep_firing_for_seconds=300, window="1h"),
)

BY_KEY = {rule.key: rule for rule in BUILTIN}


def install_builtin_rules(**_) -> int:
    """Create the built-in rules that are missing (post_migrate); returns how many were made."""
    existing = set(AlertRule.objects.filter(builtin=True).values_list("key", flat=True))
    made = [AlertRule(key=b.key, name=b.name, description=b.description, builtin=True, severity=b.severity,
                      scope=b.scope, metric=b.metric, operator=b.operator, threshold=b.threshold,
                      for_seconds=b.for_seconds, keep_firing_for_seconds=b.keep_firing_for_seconds, window=b.window)
            for b in BUILTIN if b.key not in existing]
    AlertRule.objects.bulk_create(made, ignore_conflicts=True)
    return len(made)
