"""energy.series: each chart point is its ledger bucket's figure, summed over the deployment's nodes; unknown
stays None."""

import datetime

import pytest
from django.utils import timezone

from microdc.energy import series
from microdc.energy.models import UsageBucket
from tests.dashboard.ledger_rows import hour_row, minute_row, seed_ledger


def approx(value):
    return pytest.approx(value, rel=1e-5)  # points keep six significant digits


@pytest.fixture
def two_nodes(db):
    from microdc.nodes.models import Accelerator, Node, Rack, Site

    site = Site.objects.create(name="Plant 1", slug="plant-1")
    rack = Rack.objects.create(site=site, name="R1", height_u=42)
    nodes = []
    for n in (1, 2):
        node = Node.objects.create(hostname=f"gpu-0{n}", management_address=f"10.0.0.1{n}", rack=rack,
                                   position_u=n * 4, height_u=2)
        for index in range(2):
            Accelerator.objects.create(node=node, index=index, vendor="nvidia", model="H100",
                                       uuid=f"GPU-{n}-{index}")
        nodes.append(node)
    return nodes


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def by_time(data: dict, measure: str, label: str) -> dict[int, float | None]:
    line = next(s for s in data["measures"][measure]["series"] if s["label"] == label)
    return dict(zip(data["t"], line["values"], strict=True))


@pytest.mark.django_db
def test_minute_points_are_the_minute_rows(two_nodes, now):
    made = seed_ledger(two_nodes[0], two_nodes[1], now, minutes=60, hours=2)
    data = series.deployment_series(made["assistant"].pk, "1h", now)
    rows = {int(r.start.timestamp()): r for r in UsageBucket.objects.filter(deployment=made["assistant"],
                                                                          resolution=UsageBucket.MINUTE)}
    # The window is the last hour: rows that started up to a minute before it are its first, ragged point.
    assert data["resolution"] == "1m" and set(data["t"]) == set(rows)
    assert data["t"] == sorted(data["t"])
    for t, row in rows.items():
        tokens = row.prompt_tokens + row.generation_tokens
        assert by_time(data, "joules_per_token", "GPU")[t] == approx(row.gpu_joules / tokens)
        assert by_time(data, "joules_per_token", "Node")[t] == approx(row.node_joules / tokens)
        assert by_time(data, "grams_per_1k_tokens", "Operational, PUE 1")[t] == approx(
            row.operational_grams_at_pue1 / tokens * 1000)
        assert by_time(data, "tokens_per_second", "Tokens")[t] == approx(tokens / 60)
        assert by_time(data, "requests_per_second", "Requests")[t] == approx(row.requests / 60)
        assert by_time(data, "latency", "Mean latency")[t] == approx(0.8)
        assert by_time(data, "gpu_power", "GPU")[t] == approx(row.gpu_joules / 60)
    assert "PUE 1" in data["measures"]["grams_per_1k_tokens"]["note"]


@pytest.mark.django_db
def test_a_runtime_without_tokens_has_no_per_token_points(two_nodes, now):
    made = seed_ledger(two_nodes[0], two_nodes[1], now, minutes=10, hours=2)
    data = series.deployment_series(made["iris"].pk, "1h", now)
    assert len(data["t"]) == 10
    for measure, label in (("joules_per_token", "GPU"), ("grams_per_1k_tokens", "Operational, PUE 1"),
                           ("tokens_per_second", "Tokens")):
        assert set(by_time(data, measure, label).values()) == {None}, measure
    assert None not in by_time(data, "requests_per_second", "Requests").values()
    assert None not in by_time(data, "gpu_power", "GPU").values()


@pytest.mark.django_db
def test_hour_points_sum_the_nodes_and_an_open_hour_counts_its_minutes(two_nodes, now):
    made = seed_ledger(two_nodes[0], two_nodes[1], now, minutes=0, hours=30)
    chat = made["assistant"]
    this_hour = now.replace(minute=0, second=0)
    past = this_hour - datetime.timedelta(hours=3)
    # The same deployment on the second node in one past hour (tokens known) and in the running hour.
    UsageBucket.objects.bulk_create([hour_row(chat, two_nodes[1], past, 1, True),
                                     hour_row(chat, two_nodes[1], this_hour, 2, True)]
                                    + [minute_row(chat, two_nodes[1], this_hour + datetime.timedelta(minutes=m),
                                                  m, True) for m in range(3)])
    later = this_hour + datetime.timedelta(minutes=3, seconds=30)
    data = series.deployment_series(chat.pk, "24h", later)
    assert data["resolution"] == "1h"
    rows = list(UsageBucket.objects.filter(deployment=chat, resolution=UsageBucket.HOUR, start=past))
    assert len(rows) == 2
    gpu = sum(r.gpu_joules for r in rows)
    tokens = sum(r.prompt_tokens + r.generation_tokens for r in rows)
    t = int(past.timestamp())
    assert by_time(data, "gpu_power", "GPU")[t] == approx(gpu / 3600)
    assert by_time(data, "joules_per_token", "GPU")[t] == approx(gpu / tokens)
    assert by_time(data, "tokens_per_second", "Tokens")[t] == approx(tokens / 3600)
    # The running hour covers three minutes so far: its power is its energy over those 180 s.
    running = UsageBucket.objects.get(deployment=chat, resolution=UsageBucket.HOUR, start=this_hour)
    assert by_time(data, "gpu_power", "GPU")[int(this_hour.timestamp())] == approx(running.gpu_joules / 180)
    # 24 h: the hours that started in the last 25 (a ragged first one), nothing older.
    assert min(data["t"]) >= int((later - datetime.timedelta(hours=25)).timestamp())


@pytest.mark.django_db
def test_an_unknown_count_on_one_node_leaves_the_bucket_unknown(two_nodes, now):
    made = seed_ledger(two_nodes[0], two_nodes[1], now, minutes=1, hours=0)
    start = now.replace(second=0) - datetime.timedelta(minutes=1)
    UsageBucket.objects.bulk_create([minute_row(made["assistant"], two_nodes[1], start, 1, False)])
    data = series.deployment_series(made["assistant"].pk, "1h", now)
    t = int(start.timestamp())
    assert by_time(data, "joules_per_token", "GPU")[t] is None
    rows = UsageBucket.objects.filter(deployment=made["assistant"], start=start)
    assert by_time(data, "gpu_power", "GPU")[t] == approx(sum(r.gpu_joules for r in rows) / 60)


@pytest.mark.django_db
def test_bad_window_or_measure_is_named(two_nodes):
    with pytest.raises(series.SeriesError, match="window must be one of 1h, 24h, 30d, not '2h'"):
        series.deployment_series(1, "2h")
    with pytest.raises(series.SeriesError, match="measure must be one of .*not 'watts'"):
        series.chart(1, "watts", "1h")
