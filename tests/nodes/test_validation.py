"""Inventory validation: rack units, rack fit, accelerator UUIDs; each a 400 naming the field, nothing written."""

import pytest

from microdc.nodes.models import Accelerator, Node


def node_body(rack, **overrides):
    body = {"hostname": "gpu-02", "management_address": "10.0.0.12", "rack": rack.pk, "position_u": 10,
            "height_u": 2}
    return body | overrides


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("position_u", "height_u", "expect_ok"),
    [
        (1, 1, False),   # U1 is taken by gpu-01 (U1-U2)
        (2, 1, False),   # U2 too
        (3, 1, True),    # right above it
        (41, 2, True),   # the top two units of a 42U rack
        (42, 2, False),  # would reach U43
        (40, 4, False),
    ],
)
def test_rack_units(admin_api, rack, node, position_u, height_u, expect_ok):
    response = admin_api.post("/api/v1/nodes/", node_body(rack, position_u=position_u, height_u=height_u),
                              format="json")
    if expect_ok:
        assert response.status_code == 201, response.json()
    else:
        assert response.status_code == 400
        message = " ".join(response.json()["position_u"])
        assert f"U{position_u}" in message
        assert not Node.objects.filter(hostname="gpu-02").exists()


@pytest.mark.django_db
def test_overlap_message_names_the_other_node(admin_api, rack, node):
    response = admin_api.post("/api/v1/nodes/", node_body(rack, position_u=2), format="json")
    assert response.status_code == 400
    assert "gpu-01" in response.json()["position_u"][0]


@pytest.mark.django_db
def test_moving_a_node_onto_another_is_refused(admin_api, rack, node):
    other = Node.objects.create(hostname="gpu-03", management_address="10.0.0.13", rack=rack, position_u=5)
    response = admin_api.patch(f"/api/v1/nodes/{other.pk}/", {"position_u": 2}, format="json")
    assert response.status_code == 400
    other.refresh_from_db()
    assert other.position_u == 5
    # A node may be edited in place without colliding with itself.
    assert admin_api.patch(f"/api/v1/nodes/{node.pk}/", {"height_u": 3}, format="json").status_code == 200


@pytest.mark.django_db
def test_rack_cannot_shrink_below_its_nodes(admin_api, rack, node):
    Node.objects.create(hostname="gpu-top", management_address="10.0.0.14", rack=rack, position_u=40, height_u=2)
    response = admin_api.patch(f"/api/v1/racks/{rack.pk}/", {"height_u": 24}, format="json")
    assert response.status_code == 400
    assert "U41" in response.json()["height_u"][0]


@pytest.mark.django_db
def test_accelerator_uuid_is_unique(admin_api, node):
    body = {"node": node.pk, "kind": "gpu", "vendor": "nvidia", "model": "H100", "index": 0,
            "uuid": "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}
    assert admin_api.post("/api/v1/accelerators/", body, format="json").status_code == 201
    response = admin_api.post("/api/v1/accelerators/", body | {"index": 1}, format="json")
    assert response.status_code == 400
    assert "uuid" in response.json()
    assert Accelerator.objects.count() == 1


@pytest.mark.django_db
def test_accelerators_without_uuid_do_not_collide(admin_api, node):
    for index in range(2):
        body = {"node": node.pk, "kind": "npu", "vendor": "other", "model": "NPU-1", "index": index, "uuid": ""}
        assert admin_api.post("/api/v1/accelerators/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_accelerator_index_unique_per_node(admin_api, node):
    body = {"node": node.pk, "kind": "gpu", "vendor": "nvidia", "model": "H100", "index": 0}
    assert admin_api.post("/api/v1/accelerators/", body, format="json").status_code == 201
    response = admin_api.post("/api/v1/accelerators/", body, format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json() or "index" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [("hostname", "Bad_Host!"), ("management_address", "10.0.0.1; rm -rf /"), ("ssh_user", "root;id"),
     ("ssh_port", 70000), ("position_u", 0), ("status", "exploded")],
)
def test_bad_node_fields_name_the_field(admin_api, rack, field, value):
    response = admin_api.post("/api/v1/nodes/", node_body(rack, **{field: value}), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Node.objects.exists()


@pytest.mark.django_db
def test_node_create_returns_agent_token_once(admin_api, rack):
    response = admin_api.post("/api/v1/nodes/", node_body(rack), format="json")
    assert response.status_code == 201
    key = response.json()["agent_token"]
    assert key.startswith("mdcn_")
    node = Node.objects.get(hostname="gpu-02")
    assert key not in (node.agent_token_hash, node.agent_token_id)
    detail = admin_api.get(f"/api/v1/nodes/{node.pk}/").json()
    assert "agent_token" not in detail and detail["has_agent_token"] is True

    from microdc.nodes.agent_tokens import node_for_token

    assert node_for_token(key) == node
    rotated = admin_api.post(f"/api/v1/nodes/{node.pk}/agent-token/").json()["agent_token"]
    assert node_for_token(key) is None
    assert node_for_token(rotated) == node


@pytest.mark.django_db
def test_meter_rules(admin_api, site):
    base = {"site": site.pk, "name": "PDU 1", "kind": "pdu", "protocol": "snmp", "host": "10.0.0.20",
            "settings": {"profile": "apc_rpdu2"}}
    response = admin_api.post("/api/v1/meters/", base | {"boundary": "it_load"}, format="json")
    assert response.status_code == 400 and "it_measurement_point" in response.json()
    response = admin_api.post("/api/v1/meters/", base | {"boundary": "it_load", "it_measurement_point": "pdu_output",
                                                         "host": ""}, format="json")
    assert response.status_code == 400 and "host" in response.json()
    response = admin_api.post("/api/v1/meters/", base | {"boundary": "it_load", "it_measurement_point": "pdu_output",
                                                         "secret": {"community": "s3cret"}}, format="json")
    assert response.status_code == 201, response.json()
    assert "secret" not in response.json() and response.json()["has_secret"] is True
    listed = admin_api.get("/api/v1/meters/").content.decode()
    assert "s3cret" not in listed
    # Each protocol checks its own settings and names the bad one.
    response = admin_api.post("/api/v1/meters/", base | {"name": "PDU 2", "boundary": "it_load",
                                                         "it_measurement_point": "pdu_output",
                                                         "settings": {"profile": "toaster"}}, format="json")
    assert response.status_code == 400 and "profile" in response.json()["settings"][0]
