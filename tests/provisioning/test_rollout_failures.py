"""Any failure during a rollout, at any point, ends with the touched nodes rolled back or marked as needing
attention, the deployment out of `deploying`, the reason in the job summary and the nodes unlocked."""

import pytest

from microdc.nodes.models import Node
from microdc.provisioning import jobs
from microdc.provisioning.models import Deployment, Job, NodeLock


@pytest.fixture
def nodes(rack):
    return [Node.objects.create(hostname=f"gpu-{i:02}", management_address=f"10.0.0.{10 + i}", rack=rack,
                                position_u=2 * i - 1, height_u=2) for i in (1, 2, 3)]


class Playbooks:
    """Stands in for the Ansible runs: records each, and fails or raises on the calls it is told to."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, list[str], str]] = []
        self.outcomes: dict[int, object] = {}  # call number -> False or an exception
        monkeypatch.setattr(jobs._Run, "playbook", lambda run, *args, **kwargs: self.run(run, *args, **kwargs))

    def run(self, run, name, nodes, extravars, secrets=()):
        self.calls.append((name, [n.hostname for n in nodes], extravars.get("microdc_model_revision", "")))
        outcome = self.outcomes.get(len(self.calls), True)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def deploy(client, artifact, hostnames, deployment_id=None) -> Job:
    path, sha = artifact
    revision = {"artifact": str(path), "artifact_sha256": sha, "nodes": hostnames, "port": 18080}
    if deployment_id is None:
        response = client.post("/api/v1/deployments/", {"name": "iris", "runtime": "mlserver",
                                                         "revision": revision}, format="json")
    else:
        response = client.patch(f"/api/v1/deployments/{deployment_id}/", revision, format="json")
    assert response.status_code == 202, response.content
    return jobs.execute(response.json()["job"]["id"])


def attention(deployment: Deployment) -> dict[str, str]:
    return {e["node"]: e["reason"] for e in deployment.endpoints if e.get("state") == "needs_attention"}


def assert_ended(job: Job, *, status: str, in_summary: str) -> Deployment:
    assert job.status == "failed", job.summary
    assert in_summary in job.summary, job.summary
    assert not NodeLock.objects.exists()
    deployment = Deployment.objects.get()
    assert deployment.status == status
    return deployment


@pytest.fixture
def healthy_r1(client_for, nodes, artifact, monkeypatch, settings):
    """iris r1 healthy on all three nodes; the playbooks of the next rollout are scripted by the test."""
    settings.MICRODC_ROLLOUT_BATCH_SIZE = 1
    Playbooks(monkeypatch)
    assert deploy(client_for("operator"), artifact, [n.hostname for n in nodes]).status == "succeeded"
    deployment = Deployment.objects.get()
    assert deployment.status == "healthy" and {e["state"] for e in deployment.endpoints} == {"healthy"}
    return deployment


@pytest.mark.django_db
def test_the_canary_run_raising_removes_the_new_server(client_for, nodes, artifact, monkeypatch):
    playbooks = Playbooks(monkeypatch)
    playbooks.outcomes[1] = RuntimeError("ansible-runner lost its private data dir")
    job = deploy(client_for("operator"), artifact, ["gpu-01", "gpu-02"])
    assert_ended(job, status="failed", in_summary="r1 stopped by an error: RuntimeError: ansible-runner lost")
    assert playbooks.calls[1] == ("remove_model_server.yml", ["gpu-01"], "")


@pytest.mark.django_db
def test_a_later_batch_raising_rolls_the_touched_nodes_back(client_for, healthy_r1, artifact, monkeypatch):
    playbooks = Playbooks(monkeypatch)
    playbooks.outcomes[2] = OSError("connection to the database lost")  # batch 1, after the canary
    job = deploy(client_for("operator"), artifact, ["gpu-01", "gpu-02", "gpu-03"], healthy_r1.pk)
    deployment = assert_ended(job, status="rolled_back", in_summary="r2 stopped by an error: OSError")
    assert playbooks.calls[2] == ("deploy_model_server.yml", ["gpu-01", "gpu-02"], "1")  # r1 again
    assert deployment.current_revision.number == 1 and "rollback to r1 done" in job.summary


@pytest.mark.django_db
def test_a_rollback_target_whose_artifact_is_gone_marks_the_nodes(client_for, healthy_r1, artifact, tmp_path,
                                                                   monkeypatch):
    other = tmp_path / "artifacts" / "model-2.joblib"
    other.write_bytes(b"revision two")
    import hashlib

    playbooks = Playbooks(monkeypatch)
    playbooks.outcomes[1] = False  # the canary's health check fails
    artifact[0].unlink()  # r1's artifact was cleaned away
    job = deploy(client_for("operator"), (other, hashlib.sha256(b"revision two").hexdigest()),
                 ["gpu-01", "gpu-02", "gpu-03"], healthy_r1.pk)
    deployment = assert_ended(job, status="failed", in_summary="NEEDS ATTENTION: gpu-01: rollback target r1 "
                                                               "unavailable")
    assert list(attention(deployment)) == ["gpu-01"]
    assert job.host_results["gpu-01"]["needs_attention"].startswith("rollback target r1 unavailable")
    assert [c[0] for c in playbooks.calls] == ["deploy_model_server.yml"]  # nothing run with a missing artifact


@pytest.mark.django_db
def test_the_rollback_itself_raising_marks_the_nodes(client_for, healthy_r1, artifact, monkeypatch):
    playbooks = Playbooks(monkeypatch)
    playbooks.outcomes[2] = False
    playbooks.outcomes[3] = TimeoutError("ssh stalled")
    job = deploy(client_for("operator"), artifact, ["gpu-01", "gpu-02", "gpu-03"], healthy_r1.pk)
    deployment = assert_ended(job, status="failed", in_summary="rollback stopped by an error: TimeoutError")
    assert sorted(attention(deployment)) == ["gpu-01", "gpu-02"]
    assert {e["node"]: e["state"] for e in deployment.endpoints}["gpu-03"] == "healthy"  # never touched


@pytest.mark.django_db
def test_a_failed_rollback_run_marks_the_nodes(client_for, healthy_r1, artifact, monkeypatch):
    playbooks = Playbooks(monkeypatch)
    playbooks.outcomes[1] = False
    playbooks.outcomes[2] = False
    job = deploy(client_for("operator"), artifact, ["gpu-01", "gpu-02", "gpu-03"], healthy_r1.pk)
    deployment = assert_ended(job, status="failed", in_summary="NEEDS ATTENTION: gpu-01: rollback to r1 failed")
    assert list(attention(deployment)) == ["gpu-01"]


@pytest.mark.django_db
def test_an_error_before_any_node_is_touched_fails_the_deployment(client_for, nodes, artifact, monkeypatch):
    playbooks = Playbooks(monkeypatch)

    def broken(revision, tick=None):
        raise PermissionError("artifact cache not writable")

    monkeypatch.setattr(jobs, "_verified", broken)
    job = deploy(client_for("operator"), artifact, ["gpu-01"])
    assert_ended(job, status="failed", in_summary="internal error: PermissionError: artifact cache not writable")
    assert playbooks.calls == []


@pytest.mark.django_db
def test_canceled_mid_rollout_leaves_deploying_and_marks_the_nodes(client_for, healthy_r1, artifact, monkeypatch):
    playbooks = Playbooks(monkeypatch)

    def cancel_then_fail(run, name, nodes, extravars, secrets=()):
        jobs.request_cancel(run.job)
        run._checked = 0.0  # the next cancel poll reads the database
        return False

    monkeypatch.setattr(jobs._Run, "playbook", cancel_then_fail)
    job = deploy(client_for("operator"), artifact, ["gpu-01", "gpu-02", "gpu-03"], healthy_r1.pk)
    assert job.status == "canceled" and "canceled during the rollout of r2" in job.summary
    deployment = Deployment.objects.get()
    assert deployment.status == "failed" and list(attention(deployment)) == ["gpu-01"]
    assert playbooks.calls == [] and not NodeLock.objects.exists()


@pytest.mark.django_db
def test_a_removal_that_raises_leaves_removing(client_for, healthy_r1, monkeypatch):
    playbooks = Playbooks(monkeypatch)
    playbooks.outcomes[1] = ConnectionResetError("node went away")
    response = client_for("operator").delete(f"/api/v1/deployments/{healthy_r1.pk}/")
    job = jobs.execute(response.json()["job"]["id"])
    deployment = assert_ended(job, status="failed", in_summary="removal stopped by an error: ConnectionResetError")
    assert sorted(attention(deployment)) == ["gpu-01", "gpu-02", "gpu-03"]


@pytest.mark.django_db
def test_a_node_dropped_whose_removal_fails_is_marked(client_for, healthy_r1, artifact, monkeypatch):
    playbooks = Playbooks(monkeypatch)
    playbooks.outcomes[3] = False  # r2 runs on gpu-01 and gpu-02; removing it from gpu-03 fails
    job = deploy(client_for("operator"), artifact, ["gpu-01", "gpu-02"], healthy_r1.pk)
    assert job.status == "succeeded" and playbooks.calls[2] == ("remove_model_server.yml", ["gpu-03"], "")
    deployment = Deployment.objects.get()
    assert deployment.status == "healthy" and deployment.current_revision.number == 2
    assert attention(deployment) == {"gpu-03": "removing the dropped server failed"}
    assert "needs_attention" in job.host_results["gpu-03"]
