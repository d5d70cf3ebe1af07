"""A node may create a bounded number of sensor sources, and each source a bounded number of metric names;
a batch beyond either is refused whole (400 naming the limit), and what the node has keeps working."""

import datetime
import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from microdc.telemetry.batch import BatchError
from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.models import ReceivedBatch, Sample, Source

from .factories import batch, gpu, sample

UUID0 = "GPU-00000000-0000-0000-0000-000000000000"


def sensor(name: str, **metrics) -> dict:
    return {"source": "hwmon", "chip": "nct6775", "name": name, "metrics": metrics or {"temperature_celsius": 40.0}}


def push(agent, node, devices, sensors=(), seconds_ago=0):
    ts = timezone.now() - datetime.timedelta(seconds=seconds_ago)
    return agent.post("/api/v1/telemetry/", batch(node.hostname, [sample(ts, devices, list(sensors))]), format="json")


def stored():
    return Sample.objects.count(), ReceivedBatch.objects.count(), Source.objects.count()


def test_defaults():
    assert django_settings.MICRODC_MAX_SENSORS_PER_NODE == 256
    assert django_settings.MICRODC_MAX_METRICS_PER_SOURCE == 64


@pytest.mark.django_db
def test_sensor_sources_per_node_are_bounded(agent, node, settings):
    settings.MICRODC_MAX_SENSORS_PER_NODE = 3
    assert push(agent, node, [], [sensor("fan1"), sensor("fan2")], seconds_ago=30).status_code == 202
    before = stored()

    response = push(agent, node, [gpu(0, UUID0)], [sensor("fan1"), sensor("fan2"), sensor("fan3"), sensor("fan4")],
                    seconds_ago=20)
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "samples[0].sensors[3]"
    assert "4 sensor sources, more than MICRODC_MAX_SENSORS_PER_NODE=3" in response.json()["detail"]
    assert stored() == before  # nothing of that batch, not even its accelerator's source

    # What the node has keeps working, up to the limit.
    assert push(agent, node, [], [sensor("fan1"), sensor("fan2")], seconds_ago=10).status_code == 202
    assert push(agent, node, [gpu(0, UUID0)], [sensor("fan2"), sensor("fan3")]).status_code == 202
    assert Source.objects.filter(node=node, accelerator__isnull=True).count() == 3


@pytest.mark.django_db
def test_metric_names_per_source_are_bounded_over_its_life(agent, node, settings):
    settings.MICRODC_MAX_METRICS_PER_SOURCE = 8
    assert push(agent, node, [gpu(0, UUID0)], seconds_ago=40).status_code == 202  # 6 names
    before = stored()

    response = push(agent, node, [gpu(0, UUID0, a_ratio=0.1, b_ratio=0.2, c_ratio=0.3)], seconds_ago=30)
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "samples[0].devices[0].metrics"
    assert "9 metric names, more than MICRODC_MAX_METRICS_PER_SOURCE=8" in response.json()["detail"]
    assert stored() == before

    assert push(agent, node, [gpu(0, UUID0, a_ratio=0.1, b_ratio=0.2)], seconds_ago=20).status_code == 202
    assert len(Source.objects.get(accelerator__uuid=UUID0).metric_names) == 8
    # The names count over the source's life, not per batch: a ninth name later is refused too.
    response = push(agent, node, [gpu(0, UUID0, c_ratio=0.3)], seconds_ago=10)
    assert response.status_code == 400 and "MICRODC_MAX_METRICS_PER_SOURCE=8" in response.json()["detail"]
    assert push(agent, node, [gpu(0, UUID0)]).status_code == 202


@pytest.mark.django_db
def test_new_sensor_with_too_many_metric_names_is_refused(agent, node, settings):
    settings.MICRODC_MAX_METRICS_PER_SOURCE = 2
    response = push(agent, node, [], [sensor("in0", a_volts=1.0, b_volts=2.0),
                                      sensor("in1", a_volts=1.0, b_volts=2.0, c_volts=3.0)])
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == "samples[0].sensors[1].metrics"
    assert stored() == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_add_metric_names_one_after_the_other(node, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks between concurrent writers: PostgreSQL (SQLite runs one writer at a time)")
    settings.MICRODC_MAX_METRICS_PER_SOURCE = 7
    now = timezone.now()

    def gpu_batch(seconds_ago, **extra):
        return batch(node.hostname, [sample(now - datetime.timedelta(seconds=seconds_ago), [gpu(0, UUID0, **extra)])])

    ingest_batch(node, gpu_batch(30))  # 6 names
    first_stored, release = threading.Event(), threading.Event()
    outcome = {}

    def first():  # an agent's batch adding a seventh name, its transaction still open
        try:
            with transaction.atomic():
                ingest_batch(node, gpu_batch(20, x_ratio=0.1))
                first_stored.set()
                release.wait(30)
        finally:
            connection.close()

    def second():  # a batch adding another seventh name at the same time
        try:
            ingest_batch(node, gpu_batch(10, y_ratio=0.2))
            outcome["second"] = "stored"
        except BatchError as exc:
            outcome["second"] = str(exc)
        finally:
            connection.close()

    a = threading.Thread(target=first)
    a.start()
    assert first_stored.wait(30)
    b = threading.Thread(target=second)
    b.start()
    b.join(1.0)
    assert b.is_alive()  # waits for the first batch's transaction
    release.set()
    a.join(30)
    b.join(30)
    assert "8 metric names, more than MICRODC_MAX_METRICS_PER_SOURCE=7" in outcome["second"]
    names = Source.objects.get(accelerator__uuid=UUID0).metric_names
    assert names == sorted([*gpu(0, UUID0)["metrics"], "x_ratio"])


@pytest.mark.django_db(transaction=True)
def test_migration_counts_the_names_each_node_source_reported_last(node):
    from django.db.migrations.executor import MigrationExecutor

    before = [("telemetry", "0002_rollup_claims")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("telemetry", "Source")
    old.objects.create(key="node/x/hwmon//fan1", node_id=node.pk, sensor="hwmon//fan1",
                       last_values={"fan_rpm": 1.0, "b_celsius": 2.0})
    executor = MigrationExecutor(connection)  # a fresh loader: the one above has the old state cached
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Source.objects.get(key="node/x/hwmon//fan1").metric_names == ["b_celsius", "fan_rpm"]
