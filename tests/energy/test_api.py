import datetime

from microdc.core.roles import Role
from microdc.energy.models import ModelServer
from microdc.energy.scrape import record_page
from microdc.energy.servers import sync_model_servers
from tests.energy.test_adapters import page


def test_model_servers_api_lists_health_and_counters_read_only(client_for, deploy):
    chat = deploy("chat", "http://metrics:s3cret@10.0.0.11:8000/metrics?token=abc")
    deploy("iris", "http://10.0.0.11:8082/metrics", runtime="mlserver")
    sync_model_servers()
    iris = ModelServer.objects.get(deployment__name="iris")
    record_page(iris, page("mlserver"), datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.UTC))
    ModelServer.objects.filter(pk=iris.pk).update(last_success=datetime.datetime(2026, 3, 2, 10, 0,
                                                                                 tzinfo=datetime.UTC))
    ModelServer.objects.filter(deployment=chat).update(stale_reason="HTTP 500 Internal Server Error",
                                                       consecutive_failures=3)
    viewer = client_for(Role.VIEWER)

    body = viewer.get("/api/v1/model-servers/").json()
    assert body["count"] == 2
    rows = {row["deployment_name"]: row for row in body["results"]}
    assert rows["iris"]["counters"]["requests_total"] == 7 and rows["iris"]["model_name"] == "iris"
    assert rows["iris"]["stale"] is False and rows["iris"]["node_hostname"] == "gpu-01"
    assert rows["chat"]["stale"] is True and rows["chat"]["stale_reason"] == "HTTP 500 Internal Server Error"
    assert rows["chat"]["counters"] == {} and rows["chat"]["counters_ts"] is None
    assert "s3cret" not in rows["chat"]["metrics_url"] and "abc" not in rows["chat"]["metrics_url"]

    stale = viewer.get("/api/v1/model-servers/", {"stale": "true"}).json()["results"]
    assert [row["deployment_name"] for row in stale] == ["chat"]
    fresh = viewer.get("/api/v1/model-servers/", {"stale": "false"}).json()["results"]
    assert [row["deployment_name"] for row in fresh] == ["iris"]
    by_deployment = viewer.get("/api/v1/model-servers/", {"deployment": chat.pk}).json()["results"]
    assert [row["deployment_name"] for row in by_deployment] == ["chat"]
    assert viewer.get("/api/v1/model-servers/", {"node": iris.node_id}).json()["count"] == 2

    admin = client_for(Role.ADMIN)
    assert admin.post("/api/v1/model-servers/", {}).status_code in (403, 405)  # history: nobody writes
    assert admin.delete(f"/api/v1/model-servers/{iris.pk}/").status_code in (403, 405)
    assert client_for(None).get("/api/v1/model-servers/").status_code in (401, 403)
