"""The deployments API: roles, validation of user input, revisions, node locks, refusing bad artifacts early."""

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from microdc.provisioning import jobs
from microdc.provisioning.models import Deployment, Job, NodeLock


def body(node, artifact, sha, **revision):
    return {"name": "iris", "runtime": "mlserver",
            "revision": {"artifact": str(artifact), "artifact_sha256": sha, "nodes": [node.hostname], "port": 18080}
            | revision}


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("operator", True), ("admin", True)])
def test_who_may_deploy(client_for, node, artifact, role, allowed):
    response = client_for(role).post("/api/v1/deployments/", body(node, *artifact), format="json")
    assert response.status_code == (202 if allowed else 403), response.content
    assert Deployment.objects.exists() == allowed
    assert client_for(role).get("/api/v1/deployments/").status_code == 200
    assert client_for(role).get("/api/v1/jobs/").status_code == 200


@pytest.mark.django_db
def test_deploy_creates_revision_job_and_lock(client_for, node, artifact):
    response = client_for("operator").post("/api/v1/deployments/", body(node, *artifact), format="json")
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert (job.kind, job.status, job.revision.number) == ("deploy", "queued", 1)
    assert NodeLock.objects.get(node=node).job == job
    # One job at a time per node: the next one waits, queued, and says for what.
    again = client_for("operator").post("/api/v1/deployments/", body(node, *artifact) | {"name": "other"},
                                        format="json")
    assert again.status_code == 202, again.content
    assert again.json()["job"]["status"] == "queued"
    assert again.json()["job"]["summary"] == f"waiting for job {job.pk} on gpu-01"
    assert NodeLock.objects.get(node=node).job == job


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "{{ lookup('pipe', 'touch /tmp/x') }}"),
        ("name", "iris; touch /tmp/x"),
        ("name", "Iris"),
        ("runtime", "bash"),
        ("args", "--workers 2; touch /tmp/x"),
        ("args", [1, 2]),
        ("env", {"bad name": "x"}),
        ("env", {"OK": "line\nbreak"}),
        ("artifact_sha256", "abc"),
        ("artifact", "relative/path"),
        ("port", 22),
        ("accelerators", [99]),
        ("nodes", ["no-such-node"]),
    ],
)
def test_bad_input_is_refused_naming_the_field(client_for, node, artifact, field, value):
    data = body(node, *artifact)
    if field in ("name", "runtime"):
        data[field] = value
    else:
        data["revision"][field] = value
    response = client_for("operator").post("/api/v1/deployments/", data, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_hash_mismatch_fails_before_any_node_is_touched(client_for, node, artifact):
    path, _ = artifact
    wrong = hashlib.sha256(b"something else").hexdigest()
    job_id = client_for("operator").post("/api/v1/deployments/", body(node, path, wrong),
                                         format="json").json()["job"]["id"]
    job = jobs.execute(job_id)
    assert job.status == "failed"
    assert "SHA-256 mismatch" in job.summary and "before touching any node" in job.summary
    assert not job.events.exists()  # Ansible never ran
    assert Deployment.objects.get().status == "failed"
    assert not NodeLock.objects.exists()


@pytest.mark.django_db
def test_bad_signature_fails_before_any_node_is_touched(client_for, node, artifact):
    path, sha = artifact
    trusted, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = base64.b64encode(trusted.public_key().public_bytes_raw()).decode()
    key_id = client_for("admin").post("/api/v1/signing-keys/", {"name": "release", "public_key": public},
                                      format="json").json()["id"]
    forged = base64.b64encode(other.sign(bytes.fromhex(sha))).decode()
    job_id = client_for("operator").post("/api/v1/deployments/", body(
        node, path, sha, artifact_signature=forged, signing_key=key_id), format="json").json()["job"]["id"]
    job = jobs.execute(job_id)
    assert job.status == "failed" and "signature" in job.summary and not job.events.exists()


@pytest.mark.django_db
def test_artifact_outside_allowed_roots_is_refused(client_for, node):
    sha = hashlib.sha256(Path("/etc/hostname").read_bytes()).hexdigest()
    job_id = client_for("operator").post("/api/v1/deployments/", body(node, "/etc/hostname", sha),
                                         format="json").json()["job"]["id"]
    job = jobs.execute(job_id)
    assert job.status == "failed" and "outside the allowed artifact directories" in job.summary


@pytest.mark.django_db
def test_every_change_is_a_new_revision(client_for, node, artifact, monkeypatch):
    operator = client_for("operator")
    deployment_id = operator.post("/api/v1/deployments/", body(node, *artifact), format="json").json()[
        "deployment"]["id"]
    Job.objects.update(status="succeeded")
    NodeLock.objects.all().delete()
    response = operator.patch(f"/api/v1/deployments/{deployment_id}/", {"args": ["--debug"]}, format="json")
    assert response.status_code == 202, response.json()
    revisions = operator.get(f"/api/v1/deployments/{deployment_id}/revisions/").json()
    assert [(r["number"], r["args"]) for r in revisions] == [(2, ["--debug"]), (1, [])]
    NodeLock.objects.all().delete()
    rollback = operator.post(f"/api/v1/deployments/{deployment_id}/rollback/", {"revision": 1}, format="json")
    assert rollback.status_code == 202
    assert Job.objects.get(pk=rollback.json()["job"]["id"]).revision.number == 3
    assert operator.post(f"/api/v1/deployments/{deployment_id}/rollback/", {"revision": 9},
                         format="json").status_code == 400


@pytest.mark.django_db
def test_killed_worker_leaves_job_interrupted_and_node_unlocked(client_for, node, artifact, settings):
    from django.utils import timezone

    job_id = client_for("operator").post("/api/v1/deployments/", body(node, *artifact),
                                         format="json").json()["job"]["id"]
    # The worker took the job and died: its heartbeat stops.
    Job.objects.filter(pk=job_id).update(status="running", heartbeat=timezone.now())
    assert jobs.recover_interrupted() == 0  # still beating recently
    later = timezone.now() + timezone.timedelta(seconds=settings.MICRODC_JOB_STALE_SECONDS + 1)
    assert jobs.recover_interrupted(now=later) == 1
    job = Job.objects.get(pk=job_id)
    assert job.status == "interrupted" and "stopped; its nodes were unlocked" in job.summary
    assert not NodeLock.objects.exists()


@pytest.mark.django_db
def test_cancel_and_ssh_key(client_for, node, artifact, settings):
    job_id = client_for("operator").post("/api/v1/deployments/", body(node, *artifact),
                                         format="json").json()["job"]["id"]
    assert client_for("viewer").post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 403
    assert client_for("operator").post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 202
    job = jobs.execute(job_id)
    assert job.status == "canceled" and not NodeLock.objects.exists()
    assert client_for("operator").get("/api/v1/ssh-key/").status_code == 403
    key = client_for("admin").get("/api/v1/ssh-key/").json()["public_key"]
    assert key.startswith("ssh-ed25519 ")
    private = settings.DATA_DIR / "ssh" / "id_ed25519"
    assert oct(private.stat().st_mode & 0o777) == "0o600"
    assert "PRIVATE" not in client_for("admin").get("/api/v1/ssh-key/").content.decode()
