import pytest

from microdc.core.audit import MASK
from microdc.core.models import AuditEvent
from microdc.nodes.models import FacilityMeter


@pytest.mark.django_db
def test_api_create_update_delete_are_audited(admin_api, users, rack):
    body = {"hostname": "gpu-02", "management_address": "10.0.0.12", "rack": rack.pk, "position_u": 10}
    node_id = admin_api.post("/api/v1/nodes/", body, format="json").json()["id"]
    admin_api.patch(f"/api/v1/nodes/{node_id}/", {"status": "maintenance", "description": "fan swap"}, format="json")
    admin_api.delete(f"/api/v1/nodes/{node_id}/")

    events = list(AuditEvent.objects.filter(object_type="nodes.node", object_id=str(node_id)).order_by("id"))
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert all(e.actor == users["admin"] and e.actor_name == "admin-user" and e.source == "api" for e in events)
    assert events[0].changes["hostname"] == {"old": None, "new": "gpu-02"}
    assert events[1].changes == {"status": {"old": "active", "new": "maintenance"},
                                 "description": {"old": "", "new": "fan swap"}}
    assert events[2].changes["hostname"] == {"old": "gpu-02", "new": None}
    # The agent token's hash never reaches the log.
    assert events[0].changes["agent_token_hash"]["new"] == MASK


@pytest.mark.django_db
def test_secrets_are_masked(admin_api, site):
    body = {"site": site.pk, "name": "UPS", "kind": "ups", "boundary": "other", "protocol": "snmp",
            "host": "10.0.0.30", "secret": {"auth_key": "very-secret-auth", "priv_key": "very-secret-priv"},
            "settings": {"profile": "ups_mib", "version": "3", "username": "monitor"}}
    meter_id = admin_api.post("/api/v1/meters/", body, format="json").json()["id"]
    admin_api.patch(f"/api/v1/meters/{meter_id}/", {"secret": {"auth_key": "another-secret",
                                                              "priv_key": "very-secret-priv"}}, format="json")
    admin_api.post("/api/v1/users/", {"username": "u1", "password": "a-long-enough-passphrase-1"}, format="json")
    dumped = str(list(AuditEvent.objects.values_list("changes", flat=True)))
    for secret in ("very-secret-auth", "very-secret-priv", "another-secret", "a-long-enough-passphrase-1"):
        assert secret not in dumped
    update = AuditEvent.objects.get(object_type="nodes.facilitymeter", action="update")
    assert update.changes == {"secret": {"old": MASK, "new": MASK}}
    assert FacilityMeter.objects.get(pk=meter_id).secret["auth_key"] == "another-secret"


@pytest.mark.django_db
def test_refused_or_invalid_changes_leave_no_record(client_for, admin_api, rack):
    client_for("viewer").post("/api/v1/racks/", {"site": rack.site_id, "name": "X"}, format="json")
    admin_api.post("/api/v1/racks/", {"site": rack.site_id, "name": "R2", "height_u": 99}, format="json")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_admin_site_changes_are_audited(client, users, node):
    client.force_login(users["admin"])
    response = client.post(f"/admin/nodes/node/{node.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    event = AuditEvent.objects.get()
    assert (event.source, event.action, event.object_repr, event.actor) == ("admin", "delete", "gpu-01",
                                                                            users["admin"])


@pytest.mark.django_db
def test_audit_endpoint_filters(admin_api, client_for, rack):
    admin_api.post("/api/v1/racks/", {"site": rack.site_id, "name": "R2"}, format="json")
    admin_api.post("/api/v1/sites/", {"name": "S2", "slug": "s2"}, format="json")
    response = admin_api.get("/api/v1/audit/", {"object_type": "nodes.rack"})
    assert response.status_code == 200
    assert [e["object_repr"] for e in response.json()["results"]] == ["R2"]
    assert client_for("operator").get("/api/v1/audit/").status_code == 403
