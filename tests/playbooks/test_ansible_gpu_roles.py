"""The GPU runtimes' roles (vLLM, Triton, llama.cpp) cannot run here (no GPU, no Triton or llama.cpp
binaries, no weights), so they are exercised in --check mode against the sshd node: validation,
artifact verification on the controller and every template render for real; nothing lands on the node."""

from __future__ import annotations

import hashlib
import tarfile

import pytest

from tests.support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]


@pytest.fixture
def model_tar(tmp_path):
    source = tmp_path / "tiny-model"
    source.mkdir()
    (source / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    path = tmp_path / "tiny-model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(source, arcname=".")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def base(node_root, runtime, artifact, sha, **extra):
    return {"microdc_service_prefix": str(node_root), "microdc_runtime": runtime, "microdc_model_name": "llm",
            "microdc_model_artifact": str(artifact), "microdc_model_artifact_sha256": sha,
            "microdc_model_port": free_port(), **extra}


@pytest.mark.parametrize("runtime,extra", [
    ("vllm", {"microdc_model_accelerators": [0, 1], "microdc_model_args": ["--max-model-len", "4096"]}),
    ("triton", {"microdc_model_accelerators": ["GPU-8f0e2c44-1b7a-4c1e-9c55-0d1e2f3a4b5c"],
                "triton_server_path": "/bin/true"}),
    ("llamacpp", {"microdc_model_accelerators": [], "llamacpp_server_path": "/bin/true"}),
])
def test_gpu_runtime_roles_run_in_check_mode(ssh_node, node_root, model_tar, runtime, extra):
    artifact, sha = model_tar
    result = ssh_node.run("deploy_model_server.yml", base(node_root, runtime, artifact, sha, **extra), check=True)
    assert result.status == "successful", result.stdout()[-4000:]
    assert result.hosts["node1"].changed > 0
    assert list(node_root.iterdir()) == []


def test_vllm_requires_a_gpu(ssh_node, node_root, model_tar):
    artifact, sha = model_tar
    result = ssh_node.run("deploy_model_server.yml", base(node_root, "vllm", artifact, sha))
    assert result.status == "failed"
    assert "vllm runs on GPUs" in result.stdout()
    assert list(node_root.iterdir()) == []


def test_runtime_archive_with_wrong_hash_changes_nothing(ssh_node, node_root, model_tar, tmp_path):
    artifact, sha = model_tar
    fake_release = tmp_path / "llama-release.tar.gz"
    fake_release.write_bytes(b"not llama.cpp")
    result = ssh_node.run("deploy_model_server.yml", base(
        node_root, "llamacpp", artifact, sha, llamacpp_archive_url=str(fake_release),
        llamacpp_archive_sha256=hashlib.sha256(b"the real release").hexdigest()))
    assert result.status == "failed"
    assert "SHA-256 does not match" in result.stdout()
    assert list(node_root.iterdir()) == []


def test_bad_accelerator_is_refused(ssh_node, node_root, model_tar):
    artifact, sha = model_tar
    result = ssh_node.run("deploy_model_server.yml", base(node_root, "vllm", artifact, sha,
                                                          microdc_model_accelerators=["0,1"]))
    assert result.status == "failed"
    assert "is neither an index nor a GPU-/MIG- UUID" in result.stdout()
