"""Bad requests the schema fuzzer found: each is a 4xx that says what is wrong, never a 5xx."""

import json

import pytest

from microdc.nodes.models import Node, Rack


@pytest.mark.django_db
@pytest.mark.parametrize("body", [[], [{"nodes": ["gpu-01"]}], "gpu-01", 7, None, True])
@pytest.mark.parametrize("method, path", [
    ("post", "/api/v1/bootstrap/"),
    ("post", "/api/v1/sites/"),
    ("post", "/api/v1/auth/token/"),
])
def test_a_json_body_that_is_not_an_object_is_a_400_saying_so(admin_api, body, method, path):
    response = getattr(admin_api, method)(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    assert "must be a JSON object" in response.json()["detail"]


@pytest.mark.django_db
def test_patching_a_deployment_with_an_array_is_a_400(admin_api, node):
    from microdc.provisioning.models import Deployment, DeploymentRevision

    deployment = Deployment.objects.create(name="iris", runtime="mlserver")
    revision = DeploymentRevision.objects.create(deployment=deployment, number=1, artifact="/srv/m.joblib",
                                                 artifact_sha256="0" * 64, port=8080)
    revision.nodes.set([node])
    deployment.current_revision = revision
    deployment.save()
    response = admin_api.patch(f"/api/v1/deployments/{deployment.pk}/", [{"port": 9000}], format="json")
    assert response.status_code == 400, response.content
    assert "JSON object" in response.json()["detail"]


@pytest.mark.django_db
def test_deleting_a_rack_that_holds_nodes_is_a_409_naming_them(admin_api, rack, node):
    response = admin_api.delete(f"/api/v1/racks/{rack.pk}/")
    assert response.status_code == 409, response.content
    detail = response.json()["detail"]
    assert "1 nodes (gpu-01)" in detail
    assert Rack.objects.filter(pk=rack.pk).exists() and Node.objects.filter(pk=node.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path, name", [("/api/v1/audit/", "since"), ("/api/v1/telemetry/history/", "start")])
def test_a_time_with_an_offset_postgresql_refuses_is_compared_in_utc(admin_api, node, path, name):
    # Found by the fuzzer on PostgreSQL: ISO 8601 allows -19:17, PostgreSQL's literals stop at +-15:59.
    query = {name: "1408-11-12T17:40:02.509-19:17"}
    if "history" in path:
        query |= {"node": node.hostname, "metric": "power_watts", "resolution": "1h"}
    response = admin_api.get(path, query)
    assert response.status_code < 500, response.content
    response = admin_api.get(path, query | {name: "0001-01-01T00:00:00+14:00"})
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert name in response.json()
