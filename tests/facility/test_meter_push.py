"""Readings pushed over REST (POST /api/v1/meters/<id>/readings/): numbers float64 cannot hold, non-finite
tokens and timestamps outside the agents' window are refused with a 400, nothing stored."""

import json

import pytest

from microdc.nodes.models import FacilityMeter
from microdc.telemetry.models import Sample, Source

HUGE = "1" + "0" * 400  # an integer literal float64 cannot hold (1e400)


@pytest.fixture
def push_meter(site):
    return FacilityMeter.objects.create(site=site, name="Chiller", kind="chiller", boundary="cooling", protocol="push")


def push_readings(client, meter, text: str):
    return client.generic("POST", f"/api/v1/meters/{meter.pk}/readings/", text, content_type="application/json")


def readings_with(poison: str) -> str:
    return ('{"readings": [{"quantity": "power_watts", "value": 10.0}, '
            f'{{"quantity": "energy_joules", "value": {poison}}}]}}')


@pytest.mark.django_db
@pytest.mark.parametrize("poison", [HUGE, "-" + HUGE, "1e400", "1.7e308", "-1e101"],
                         ids=["huge", "-huge", "1e400", "1.7e308", "-1e101"])
def test_meter_push_refuses_number_out_of_range_naming_the_field(client_for, push_meter, poison):
    response = push_readings(client_for("admin"), push_meter, readings_with(poison))
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["readings"] and list(response.json()["readings"]["1"]) == ["value"]
    assert not Sample.objects.exists() and not Source.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_meter_push_refuses_non_finite_token(client_for, push_meter, token):
    # The REST API's JSON parser refuses these tokens for every endpoint, naming the token.
    response = push_readings(client_for("admin"), push_meter, readings_with(token))
    assert response.status_code == 400, response.content
    assert token in response.json()["detail"]
    assert not Sample.objects.exists() and not Source.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("ts", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                                "2000-01-01T00:00:00+00:00"])
def test_meter_push_refuses_timestamp_out_of_range(client_for, push_meter, ts):
    text = json.dumps({"ts": ts, "readings": [{"quantity": "power_watts", "value": 10.0}]})
    response = push_readings(client_for("admin"), push_meter, text)
    assert response.status_code == 400, response.content
    assert "ts" in response.json()
    assert not Sample.objects.exists()
