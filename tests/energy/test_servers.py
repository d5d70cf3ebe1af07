from microdc.energy.models import ModelServer
from microdc.energy.servers import sync_model_servers
from microdc.nodes.models import Node
from microdc.provisioning.models import Deployment


def test_servers_follow_healthy_deployments_and_healthy_endpoints(deploy, node, rack):
    other = Node.objects.create(hostname="gpu-02", management_address="10.0.0.12", rack=rack, position_u=3,
                                height_u=2)
    chat = deploy("chat", "http://10.0.0.11:8000/metrics", nodes=[node, other])
    deploy("broken", "http://10.0.0.11:9000/metrics", state="needs_attention")
    Deployment.objects.create(name="pending", runtime="vllm", endpoints=[
        {"node": node.hostname, "state": "healthy", "metrics_url": "http://10.0.0.11:9100/metrics"}])
    deploy("nometrics", "")
    Deployment.objects.create(name="elsewhere", runtime="vllm", status=Deployment.Status.HEALTHY, endpoints=[
        {"node": "no-such-node", "state": "healthy", "metrics_url": "http://10.9.9.9/metrics"}])

    sync_model_servers()
    rows = {(s.deployment.name, s.node.hostname): s for s in ModelServer.objects.select_related("deployment", "node")}
    assert set(rows) == {("chat", "gpu-01"), ("chat", "gpu-02")}
    assert all(s.active and s.runtime == "vllm" for s in rows.values())

    # The rollout moves chat off gpu-02 and changes its port; then chat fails altogether.
    chat.endpoints = [{"node": "gpu-01", "state": "healthy", "metrics_url": "http://10.0.0.11:8001/metrics"}]
    chat.save()
    sync_model_servers()
    servers = {s.node.hostname: s for s in ModelServer.objects.filter(deployment=chat).select_related("node")}
    assert servers["gpu-01"].active and servers["gpu-01"].metrics_url == "http://10.0.0.11:8001/metrics"
    assert not servers["gpu-02"].active  # kept, with its history, but no longer scraped

    Deployment.objects.filter(pk=chat.pk).update(status=Deployment.Status.FAILED)
    sync_model_servers()
    assert not ModelServer.objects.filter(deployment=chat, active=True).exists()
    assert ModelServer.objects.filter(deployment=chat).count() == 2
