"""User input never runs: Jinja or shell syntax in a model name, runtime or argument is refused by the
roles' strict patterns (or passes through inert, see test_ansible_service / test_ansible_mlserver),
and the marker file is never created."""

from __future__ import annotations

import pytest

from tests.support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]


def payloads(marker) -> list[str]:
    return [f"{{{{ lookup('pipe', 'touch {marker}') }}}}", f"; touch {marker}", f"x$(touch {marker})"]


@pytest.mark.parametrize("index", range(3))
def test_model_name_injection_is_refused(ssh_node, node_root, tmp_path, index):
    marker = tmp_path / "pwned"
    name = payloads(marker)[index]
    result = ssh_node.run("deploy_model_server.yml", {
        "microdc_service_prefix": str(node_root),
        "microdc_runtime": "mlserver",
        "microdc_model_name": name,
        "microdc_model_artifact": "/nonexistent/model.joblib",
        "microdc_model_artifact_sha256": "0" * 64,
        "microdc_model_port": free_port(),
    })
    assert result.status == "failed"
    out = result.stdout()
    assert "model name" in out and "is invalid" in out
    assert not marker.exists()
    assert list(node_root.iterdir()) == []


def test_runtime_injection_is_refused(ssh_node, node_root, tmp_path):
    marker = tmp_path / "pwned"
    result = ssh_node.run("deploy_model_server.yml", {
        "microdc_service_prefix": str(node_root),
        "microdc_runtime": payloads(marker)[0],
        "microdc_model_name": "ok",
    })
    assert result.status == "failed"
    assert "microdc_runtime must be one of" in result.stdout()
    assert not marker.exists()


def test_remove_with_injected_name_is_refused(ssh_node, node_root, tmp_path):
    marker = tmp_path / "pwned"
    (node_root / "keep").write_text("a file outside any model server")
    for name in [*payloads(marker), "../../etc", "."]:
        result = ssh_node.run("remove_model_server.yml", {"microdc_service_prefix": str(node_root),
                                                         "microdc_model_name": name})
        assert result.status == "failed", name
    assert not marker.exists()
    assert (node_root / "keep").exists()
