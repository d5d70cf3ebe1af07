"""Day rows: a long window reads whole UTC days from day rows, which sum the day's hour rows exactly."""

import datetime

import pytest

from microdc.energy import hours
from microdc.energy.ledger_sums import rows_in, sums_by_node
from microdc.energy.models import UnallocatedBucket, UsageBucket
from microdc.energy.windows import resolve
from microdc.provisioning.models import Deployment
from tests.energy.ledger_rows import MINUTE, minutes

START = datetime.datetime(2026, 11, 26, 23, 30, tzinfo=datetime.UTC)
END = datetime.datetime(2026, 11, 29, 2, 45, tzinfo=datetime.UTC)  # two whole UTC days, two hours, ragged edges


def _ledger(node, deployment):
    count = int((END - START) / MINUTE)
    # Minute i used i joules: every window's sum has a closed form.
    rows = minutes(deployment, node, START, count, gpu_joules=0.0, node_joules=0.0, requests=1.0)
    for i, row in enumerate(rows):
        row.gpu_joules, row.node_joules = float(i), 2.0 * i
    UsageBucket.objects.bulk_create(rows)
    UnallocatedBucket.objects.bulk_create([UnallocatedBucket(node=node, resolution=UsageBucket.MINUTE,
                                                             start=r.start, gpu_joules=1.0) for r in rows])
    hours.rebuild(node, node.rack.site, START, END, hours.PueCache(END))
    return count


@pytest.mark.django_db
def test_a_long_window_reads_day_rows_and_sums_like_its_minutes(node):
    deployment = Deployment.objects.create(name="chat", runtime="vllm", status="healthy")
    count = _ledger(node, deployment)
    days = UsageBucket.objects.filter(resolution=UsageBucket.DAY).order_by("start")
    assert [d.start.day for d in days] == [26, 27, 28, 29]
    assert days[1].requests == 1440.0 and days[1].gpu_coverage == 86400.0
    assert UnallocatedBucket.objects.get(resolution=UsageBucket.DAY, start=days[1].start).gpu_joules == 1440.0

    window = resolve(start=START + 7 * MINUTE, end=END - 3 * MINUTE)
    read = rows_in(window, [deployment.pk])
    assert set(read.values_list("resolution", flat=True)) == {UsageBucket.MINUTE, UsageBucket.HOUR, UsageBucket.DAY}
    assert read.filter(resolution=UsageBucket.DAY).count() == 2
    figures = sums_by_node(read)[(deployment.pk, node.pk)]
    expected = sum(range(7, count - 3))
    assert figures["gpu_joules"] == pytest.approx(expected, rel=1e-12)
    assert figures["node_joules"] == pytest.approx(2 * expected, rel=1e-12)
    assert figures["requests"] == count - 10


@pytest.mark.django_db
def test_a_late_minute_moves_its_hour_and_day_rows(node):
    deployment = Deployment.objects.create(name="chat", runtime="vllm", status="healthy")
    _ledger(node, deployment)
    late = START + datetime.timedelta(hours=30)
    UsageBucket.objects.filter(resolution=UsageBucket.MINUTE, start=late).update(gpu_joules=1e6)
    hours.rebuild(node, node.rack.site, late, late + MINUTE, hours.PueCache(END))
    day = UsageBucket.objects.get(resolution=UsageBucket.DAY,
                                  start=datetime.datetime(2026, 11, 28, tzinfo=datetime.UTC))
    minutes_of_day = UsageBucket.objects.filter(resolution=UsageBucket.MINUTE, start__gte=day.start,
                                                start__lt=day.start + datetime.timedelta(days=1))
    assert day.gpu_joules == pytest.approx(sum(m.gpu_joules for m in minutes_of_day), rel=1e-12)
