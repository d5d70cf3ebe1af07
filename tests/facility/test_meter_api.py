"""The meters API: a stored secret is never sent to a host it was not given for."""

import pytest

from microdc.nodes.models import FacilityMeter

SECRET = {"username": "admin", "password": "s3cret-for-pdu-1"}


@pytest.fixture
def meter(site):
    return FacilityMeter.objects.create(
        site=site, name="PDU 1", kind="pdu", boundary="it_load", it_measurement_point="pdu_output",
        protocol="redfish", host="pdu-1.example.net",
        settings={"resource": "/redfish/v1/Chassis/1", "auth": "basic"}, secret=SECRET)


def test_a_host_change_without_the_secret_is_a_400_naming_secret(admin_api, meter):
    response = admin_api.patch(f"/api/v1/meters/{meter.pk}/", {"host": "attacker.example.net"}, format="json")
    assert response.status_code == 400, response.content
    assert "secret" in response.json() and "attacker.example.net" in response.json()["secret"][0]
    meter.refresh_from_db()
    assert meter.host == "pdu-1.example.net" and meter.secret == SECRET


def test_a_host_change_with_a_new_secret_stores_that_one(admin_api, meter):
    new = {"username": "admin", "password": "for-pdu-2"}
    response = admin_api.patch(f"/api/v1/meters/{meter.pk}/", {"host": "pdu-2.example.net", "secret": new},
                               format="json")
    assert response.status_code == 200, response.content
    meter.refresh_from_db()
    assert meter.host == "pdu-2.example.net" and meter.secret == new


def test_a_host_change_may_clear_the_secret_where_the_protocol_needs_none(admin_api, meter):
    response = admin_api.patch(f"/api/v1/meters/{meter.pk}/", {
        "host": "pdu-2.example.net", "secret": {}, "settings": {"resource": "/redfish/v1/Chassis/1", "auth": "none"}},
        format="json")
    assert response.status_code == 200, response.content
    meter.refresh_from_db()
    assert meter.secret == {} and response.json()["has_secret"] is False


def test_other_changes_keep_the_secret(admin_api, meter):
    response = admin_api.patch(f"/api/v1/meters/{meter.pk}/", {"poll_interval_seconds": 60,
                                                                "host": "pdu-1.example.net"}, format="json")
    assert response.status_code == 200, response.content
    meter.refresh_from_db()
    assert meter.secret == SECRET and meter.poll_interval_seconds == 60
