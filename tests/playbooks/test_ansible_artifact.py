"""A model artifact whose SHA-256 does not match fails the deployment before anything on the node
changes, whether it comes from a path on the appliance or from a URL."""

from __future__ import annotations

import hashlib

import pytest

from tests.playbooks.ansible_helpers import files_under
from tests.support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]


def deploy_vars(root, artifact: str, sha256: str) -> dict:
    return {
        "microdc_service_prefix": str(root),
        "microdc_runtime": "mlserver",
        "microdc_model_name": "tampered",
        "microdc_model_artifact": artifact,
        "microdc_model_artifact_sha256": sha256,
        "microdc_model_port": free_port(),
        "microdc_model_bind": "127.0.0.1",
    }


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"not the model the operator approved")
    return path


def test_path_artifact_with_wrong_hash_changes_nothing(ssh_node, node_root, artifact):
    expected = hashlib.sha256(b"the approved model").hexdigest()
    result = ssh_node.run("deploy_model_server.yml", deploy_vars(node_root, str(artifact), expected))
    assert result.status == "failed"
    assert result.hosts["node1"].changed == 0
    out = result.stdout()
    assert f"expected {expected}" in out and hashlib.sha256(artifact.read_bytes()).hexdigest() in out
    assert files_under(node_root) == [] and list(node_root.iterdir()) == []


def test_url_artifact_with_wrong_hash_changes_nothing(ssh_node, node_root, artifact, file_server):
    expected = hashlib.sha256(b"the approved model").hexdigest()
    result = ssh_node.run("deploy_model_server.yml", deploy_vars(node_root, file_server(artifact), expected))
    assert result.status == "failed"
    assert result.hosts["node1"].changed == 0
    assert "did not match " + expected in result.stdout()
    assert list(node_root.iterdir()) == []
    # Nor does the controller keep the rejected download.
    cached = list((ssh_node.controller_cache / "artifacts").rglob("model.joblib"))
    assert cached == []


def test_missing_artifact_is_reported_before_the_node_changes(ssh_node, node_root, tmp_path):
    missing = tmp_path / "nowhere.joblib"
    result = ssh_node.run("deploy_model_server.yml", deploy_vars(node_root, str(missing), "0" * 64))
    assert result.status == "failed"
    assert "does not exist or is not a file" in result.stdout()
    assert list(node_root.iterdir()) == []
