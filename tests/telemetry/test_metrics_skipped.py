"""/metrics never fails because of one source: a stored value it cannot render (rows from before ingest refused
them) is left out and counted in microdc_metrics_skipped_values; the scrape stays promtool-clean."""

import subprocess

import pytest
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from microdc.facility.models import MeterState
from microdc.facility.readings import store_meter_readings
from microdc.facility.sources.base import Reading as MeterReading
from microdc.nodes.models import FacilityMeter
from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.models import Source
from microdc.telemetry.prometheus import SkippedValues
from tests.support import require_binary

from .factories import batch, gpu, sample

UUID0 = "GPU-00000000-0000-0000-0000-000000000000"
# JSON the database holds but Python cannot render as a sample value: 1e400 decodes to inf, the long integer
# overflows float(), a string is no number.
POISON_VALUES = '{"power_watts": 1e400, "temperature_celsius": %s, "utilization_ratio": "busy", ' \
                '"memory_used_bytes": 1.0}' % ("1" + "0" * 400)


def poison(source: Source) -> None:
    cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    table = connection.ops.quote_name(Source._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET last_values = {cast} WHERE id = %s", [POISON_VALUES, source.pk])  # noqa: S608


def samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.django_db
def test_unrenderable_values_are_skipped_and_counted(client, node, site):
    now = timezone.now()
    ingest_batch(node, batch(node.hostname, [sample(now, [gpu(0, UUID0)], [
        {"source": "rapl", "chip": "intel-rapl:0", "name": "package-0", "metrics": {"energy_joules": 12.0}}])]))
    meter = FacilityMeter.objects.create(site=site, name="Chiller", kind="chiller", boundary="cooling",
                                         protocol="push")
    store_meter_readings(meter, now, [MeterReading(quantity="power_watts", value=2000.0)])
    MeterState.objects.create(meter=meter, last_attempt=now, last_success=now)
    for source in Source.objects.filter(accelerator__isnull=False) | Source.objects.filter(meter=meter):
        poison(source)

    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    text = response.content.decode()
    found = samples(text)
    skipped = {labels: value for (name, labels), value in found.items() if name == "microdc_metrics_skipped_values"}
    # PostgreSQL's jsonb keeps 1e400 as an exact numeric, which comes back as a 401-digit integer.
    huge_float = "out_of_range" if connection.vendor == "postgresql" else "non_finite"
    assert skipped == {
        (("family", "microdc_gpu_power_watts"), ("reason", huge_float)): 1.0,
        (("family", "microdc_gpu_temperature_celsius"), ("reason", "out_of_range")): 1.0,
        (("family", "microdc_gpu_utilization_ratio"), ("reason", "not_a_number")): 1.0,
        (("family", "microdc_facility_power_watts"), ("reason", huge_float)): 1.0,
        # The same meter channel again, as the per-channel families show every quantity.
        (("family", "microdc_meter_power_watts"), ("reason", huge_float)): 1.0,
        (("family", "microdc_meter_temperature_celsius"), ("reason", "out_of_range")): 1.0,
        (("family", "microdc_meter_utilization_ratio"), ("reason", "not_a_number")): 1.0,
    }
    # Everything else of the same sources is still there.
    assert [v for (name, _), v in found.items() if name == "microdc_gpu_memory_used_bytes"] == [1.0]
    assert [v for (name, _), v in found.items() if name == "microdc_node_sensor_energy_joules_total"] == [12.0]
    assert not [name for name, _ in found if name == "microdc_gpu_power_watts"]

    promtool = require_binary("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "metrics"], input=response.content, capture_output=True)
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b"", result


@pytest.mark.django_db
def test_nothing_skipped_is_an_empty_family(client, node):
    ingest_batch(node, batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])]))
    text = client.get("/metrics").content.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["microdc_metrics_skipped_values"].samples == []
    assert "# TYPE microdc_metrics_skipped_values gauge" in text


def test_renderable_values_and_reasons():
    skipped = SkippedValues()
    values = [1.5, 7, float("nan"), float("inf"), -float("inf"), 10**400, "7", True, None, [1.0]]
    assert [skipped.renderable("f", v) for v in values] == [1.5, 7.0] + [None] * 8
    assert type(skipped.renderable("f", 7)) is float
    assert skipped.counts == {("f", "non_finite"): 3, ("f", "out_of_range"): 1, ("f", "not_a_number"): 4}
