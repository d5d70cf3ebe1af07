"""End to end through the API, against a real sshd on loopback as the node: bootstrap the agent, deploy the
CPU runtime (MLServer + scikit-learn) with the job's events arriving on the websocket, ask the model, roll a
failing revision back, remove it and find nothing left."""

import json
import shutil
import urllib.request

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from microdc.dashboard.routing import websocket_urlpatterns
from microdc.provisioning import jobs
from microdc.provisioning.models import Deployment, NodeLock
from tests.playbooks.ansible_helpers import files_under, processes_mentioning
from tests.support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]


def infer(port: int, values: list[float]) -> dict:
    body = json.dumps({"inputs": [{"name": "x", "shape": [len(values), 1], "datatype": "FP64", "data": values}]})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/iris/infer", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


async def run_job_watching(user, job_id):
    """Run the job in a worker thread while a websocket subscribed to its group collects what it is sent."""
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/live/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"subscribe": [f"job.{job_id}"]})
    assert (await communicator.receive_json_from())["type"] == "subscribed"
    job = await sync_to_async(jobs.execute, thread_sensitive=False)(job_id)
    frames = []
    while not await communicator.receive_nothing(timeout=1.0):
        frames.append(await communicator.receive_json_from())
    await communicator.disconnect()
    return job, frames


@pytest.mark.django_db(transaction=True)
def test_bootstrap_deploy_infer_roll_back_remove(client_for, users, node_on_sshd, sklearn_model,
                                                       settings, tmp_path):
    node, root = node_on_sshd
    operator, admin = client_for("operator"), client_for("admin")

    # Bootstrap: the agent is installed and supervised; its token file is private.
    response = admin.post("/api/v1/bootstrap/", {"nodes": ["node1"]}, format="json")
    assert response.status_code == 202, response.content
    job = jobs.execute(response.json()["job"]["id"])
    assert job.status == "succeeded", job.summary + job.stdout[-3000:]
    token_files = [p for p in root.rglob("token") if "microdc-agent" in str(p)]
    assert token_files and oct(token_files[0].stat().st_mode & 0o777) == "0o600"

    # Deploy the CPU runtime with a model made at test time; watch the job's events on the websocket.
    artifact = tmp_path / "artifacts" / "model.joblib"
    shutil.copy(sklearn_model.path, artifact)
    port = free_port()
    marker = tmp_path / "pwned"
    body = {"name": "iris", "runtime": "mlserver", "revision": {
        "artifact": str(artifact), "artifact_sha256": sklearn_model.sha256, "nodes": ["node1"], "port": port,
        "env": {"MICRODC_NOTE": f"{{{{ lookup('pipe', 'touch {marker}') }}}}"}}}
    response = operator.post("/api/v1/deployments/", body, format="json")
    assert response.status_code == 202, response.content
    deployment_id = response.json()["deployment"]["id"]
    job, frames = async_to_sync(run_job_watching)(users["operator"], response.json()["job"]["id"])
    assert job.status == "succeeded", job.summary + job.stdout[-3000:]
    streamed = [e for f in frames if f["type"] == "update" for e in f["data"].get("events", [])]
    assert any(e["event"] == "runner_on_ok" for e in streamed), "no task events reached the websocket"
    assert any(e["event"] == "playbook_on_stats" for e in streamed)
    stored = list(job.events.values_list("counter", flat=True))
    assert stored == sorted(set(stored))
    counters = [e["counter"] for e in streamed]
    assert sorted(counters) == stored, "every stored event reaches the websocket, once"
    answer = infer(port, sklearn_model.inputs)
    assert answer["outputs"][0]["data"] == sklearn_model.expected
    deployment = Deployment.objects.get(pk=deployment_id)
    assert deployment.status == "healthy" and deployment.endpoints[0]["node"] == "node1"
    assert not marker.exists(), "user input was evaluated as Jinja"

    # A revision whose server cannot become healthy is rolled back; the previous revision answers again.
    response = operator.patch(f"/api/v1/deployments/{deployment_id}/",
                                                   {"args": ["--no-such-option-for-mlserver"]}, format="json")
    assert response.status_code == 202, response.content
    job = jobs.execute(response.json()["job"]["id"])
    assert job.status == "failed" and "rolling node1 back to r1" in job.summary and "rollback to r1 done" in job.summary
    deployment = Deployment.objects.select_related("current_revision").get(pk=deployment_id)
    assert deployment.status == "rolled_back" and deployment.current_revision.number == 1
    assert infer(port, sklearn_model.inputs)["outputs"][0]["data"] == sklearn_model.expected

    # Remove: no process, no unit, no files of it.
    response = operator.delete(f"/api/v1/deployments/{deployment_id}/")
    assert response.status_code == 202
    job = jobs.execute(response.json()["job"]["id"])
    assert job.status == "succeeded", job.summary
    assert not processes_mentioning("microdc-model-iris")
    assert not [f for f in files_under(root) if "iris" in f]
    assert not NodeLock.objects.exists()
    text = operator.get(f"/api/v1/jobs/{job.pk}/stdout/")
    assert text.status_code == 200 and "PLAY RECAP" in text.content.decode()
