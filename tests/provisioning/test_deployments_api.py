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
    revisions = operator.get(f"/api/v1/deployments/{deployment_id}/revisions/").json()["results"]
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


SIGNED_URL = ("https://fetch:hunter22@registry.example/models/iris.joblib"
              "?X-Amz-Expires=600&X-Amz-Signature=0badc0ffee0badc0ffee")
MASKED_URL = "https://********@registry.example/models/iris.joblib?X-Amz-Expires=********&X-Amz-Signature=********"


def _secret_deployment(client_for, node, artifact):
    """A deployment whose revision holds a token in its environment and a signed artifact URL."""
    _, sha = artifact
    response = client_for("operator").post("/api/v1/deployments/", body(
        node, SIGNED_URL, sha, env={"HF_TOKEN": "hf_verysecret", "WORKERS": "2"}), format="json")
    assert response.status_code == 202, response.content
    deployment = Deployment.objects.get(pk=response.json()["deployment"]["id"])
    Deployment.objects.filter(pk=deployment.pk).update(current_revision=deployment.revisions.get())
    return deployment


@pytest.mark.django_db
def test_viewers_see_environment_keys_and_artifact_hosts_but_no_secrets(client_for, node, artifact):
    deployment = _secret_deployment(client_for, node, artifact)
    for role, env, url in [("viewer", {"HF_TOKEN": "********", "WORKERS": "********"}, MASKED_URL),
                           ("operator", {"HF_TOKEN": "hf_verysecret", "WORKERS": "2"}, SIGNED_URL),
                           ("admin", {"HF_TOKEN": "hf_verysecret", "WORKERS": "2"}, SIGNED_URL)]:
        client = client_for(role)
        listed = client.get("/api/v1/deployments/").json()["results"][0]["current_revision"]
        detail = client.get(f"/api/v1/deployments/{deployment.pk}/").json()["current_revision"]
        revisions = client.get(f"/api/v1/deployments/{deployment.pk}/revisions/").json()["results"]
        for revision in (listed, detail, *revisions):
            assert (role, revision["env"], revision["artifact"]) == (role, env, url)
    viewer_text = "".join(client_for("viewer").get(path).content.decode() for path in (
        "/api/v1/deployments/", f"/api/v1/deployments/{deployment.pk}/revisions/", "/api/v1/jobs/"))
    assert "hf_verysecret" not in viewer_text and "hunter22" not in viewer_text and "0badc0ffee" not in viewer_text


@pytest.mark.django_db
def test_audit_log_keeps_environment_keys_and_masks_values_and_url_credentials(client_for, node, artifact):
    from microdc.core.models import AuditEvent

    deployment = _secret_deployment(client_for, node, artifact)
    Job.objects.update(status="succeeded")
    NodeLock.objects.all().delete()
    response = client_for("operator").patch(f"/api/v1/deployments/{deployment.pk}/", {
        "env": {"HF_TOKEN": "hf_othersecret"}, "artifact": SIGNED_URL.replace("0badc0ffee", "5ec12e7")},
        format="json")
    assert response.status_code == 202, response.content
    changes = AuditEvent.objects.get(action="update", object_id=str(deployment.pk)).changes
    assert changes["env"] == {"old": {"HF_TOKEN": "********", "WORKERS": "********"}, "new": {"HF_TOKEN": "********"}}
    assert changes["artifact"] == {"old": MASKED_URL, "new": MASKED_URL}
    every_record = str(list(AuditEvent.objects.values_list("changes", flat=True)))
    for secret in ("hf_verysecret", "hf_othersecret", "hunter22", "0badc0ffee", "5ec12e7"):
        assert secret not in every_record


@pytest.mark.django_db
def test_job_summaries_are_masked_for_every_role(client_for, node, artifact):
    deployment = _secret_deployment(client_for, node, artifact)
    job = deployment.jobs.get()
    Job.objects.filter(pk=job.pk).update(summary=f"stopped before touching any node: {SIGNED_URL} answered 403\n"
                                                 "internal error: RuntimeError: token hf_verysecret refused")
    for role in ("viewer", "operator", "admin"):
        summary = client_for(role).get(f"/api/v1/jobs/{job.pk}/").json()["summary"]
        assert summary == (f"stopped before touching any node: {MASKED_URL} answered 403\n"
                           "internal error: RuntimeError: token ******** refused")
    # The dashboard's jobs page shows the same summary.
    from microdc.dashboard import provisioning as dashboard_jobs

    assert dashboard_jobs.job(job.pk)["summary"] == summary
    assert [j["summary"] for j in dashboard_jobs.jobs()] == [summary]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_BIND_NOW", "DYLD_INSERT_LIBRARIES",
                                  "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PERL5OPT",
                                  "RUBYOPT", "NODE_OPTIONS", "BASH_ENV", "ENV", "PATH", "GCONV_PATH"])
def test_loader_and_interpreter_path_variables_are_refused_by_name(client_for, node, artifact, name):
    response = client_for("operator").post("/api/v1/deployments/", body(
        node, *artifact, env={"WORKERS": "2", name: "/tmp/evil"}), format="json")
    assert response.status_code == 400
    assert name in str(response.json()["revision"]["env"])
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_a_change_cannot_add_a_loader_variable_either(client_for, node, artifact):
    operator = client_for("operator")
    deployment_id = operator.post("/api/v1/deployments/", body(node, *artifact, env={"HF_HOME": "/srv/hf"}),
                                  format="json").json()["deployment"]["id"]
    Job.objects.update(status="succeeded")
    NodeLock.objects.all().delete()
    response = operator.patch(f"/api/v1/deployments/{deployment_id}/", {"env": {"LD_PRELOAD": "/tmp/x.so"}},
                              format="json")
    assert response.status_code == 400 and "LD_PRELOAD" in str(response.json()["env"])
    assert operator.patch(f"/api/v1/deployments/{deployment_id}/", [{"env": {}}], format="json").status_code == 400
    assert Deployment.objects.get().revisions.count() == 1


@pytest.mark.django_db
def test_reusing_a_removed_deployments_name_keeps_its_history(client_for, node, artifact):
    operator = client_for("operator")
    old_id = operator.post("/api/v1/deployments/", body(node, *artifact), format="json").json()["deployment"]["id"]
    old_job = Job.objects.get()
    Job.objects.update(status="succeeded")
    NodeLock.objects.all().delete()
    Deployment.objects.filter(pk=old_id).update(status="removed")

    response = operator.post("/api/v1/deployments/", body(node, *artifact), format="json")
    assert response.status_code == 202, response.content
    new_id = response.json()["deployment"]["id"]
    assert new_id != old_id
    assert Deployment.objects.get(pk=old_id).jobs.get() == old_job  # the old one and its jobs stay
    assert sorted(Deployment.objects.filter(name="iris").values_list("status", flat=True)) == ["pending", "removed"]
    # The name belongs to the live one now; the removed one is history and is not changed again.
    NodeLock.objects.all().delete()
    again = operator.post("/api/v1/deployments/", body(node, *artifact), format="json")
    assert again.status_code == 400 and "name" in again.json()
    for method, path, data in [("patch", f"/api/v1/deployments/{old_id}/", {"args": ["-v"]}),
                               ("post", f"/api/v1/deployments/{old_id}/rollback/", {"revision": 1}),
                               ("delete", f"/api/v1/deployments/{old_id}/", None)]:
        refused = getattr(operator, method)(path, data, format="json")
        assert refused.status_code == 409 and "removed" in refused.json()["detail"]


@pytest.mark.django_db
def test_the_database_holds_one_live_deployment_per_name(node):
    from django.db import IntegrityError, transaction

    Deployment.objects.create(name="iris", runtime="mlserver", status="removed")
    Deployment.objects.create(name="iris", runtime="mlserver", status="removed")
    Deployment.objects.create(name="iris", runtime="mlserver", status="healthy")
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.create(name="iris", runtime="mlserver", status="failed")


@pytest.mark.django_db
def test_a_name_taken_between_validation_and_insert_is_a_400(client_for, node, artifact, monkeypatch):
    from microdc.provisioning.api.serializers import DeploymentSerializer

    Deployment.objects.create(name="iris", runtime="mlserver", status="healthy")
    # Two requests validated at once: the other one's row lands after this one's check.
    monkeypatch.setattr(DeploymentSerializer, "validate_name", lambda self, value: value)
    monkeypatch.setattr(DeploymentSerializer, "get_validators", lambda self: [])
    response = client_for("operator").post("/api/v1/deployments/", body(node, *artifact), format="json")
    assert response.status_code == 400 and "a deployment named iris exists" in str(response.json().get("name"))
    assert Deployment.objects.count() == 1 and not Job.objects.exists() and not NodeLock.objects.exists()


@pytest.mark.django_db
def test_the_priority_changes_without_a_rollout_and_is_checked(client_for, node, artifact):
    operator = client_for("operator")
    created = operator.post("/api/v1/deployments/", body(node, *artifact) | {"priority": 5}, format="json").json()
    deployment_id = created["deployment"]["id"]
    assert created["deployment"]["priority"] == 5
    jobs_before = Job.objects.count()
    response = operator.patch(f"/api/v1/deployments/{deployment_id}/", {"priority": -20}, format="json")
    assert response.status_code == 200 and response.json()["priority"] == -20
    assert Job.objects.count() == jobs_before, "a priority change rolls nothing out"
    refused = operator.patch(f"/api/v1/deployments/{deployment_id}/", {"priority": 500, "args": ["--x"]},
                             format="json")
    assert refused.status_code == 400 and "priority" in refused.json()
    assert Deployment.objects.get(pk=deployment_id).priority == -20
