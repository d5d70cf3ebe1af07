import contextlib
import hashlib
import os
import signal

import pytest
from channels.layers import channel_layers

from microdc.nodes.models import Node
from microdc.provisioning.ssh_keys import ensure_keypair
from tests.playbooks.ansible_helpers import NODE_PYTHON, node_prefix, processes_mentioning
from tests.playbooks.conftest import module_file_server, sklearn_model, ssh_node  # noqa: F401 - fixtures
from tests.support import free_port


@pytest.fixture(autouse=True)
def jobs_wait_for_the_test(settings, tmp_path):
    # Jobs are not run by a worker here: each test runs them itself (jobs.execute), when it wants.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    settings.MICRODC_ARTIFACT_ROOTS = [str(tmp_path / "artifacts")]
    settings.DATA_DIR = tmp_path / "data"
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "data").mkdir()


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "artifacts" / "model.joblib"
    path.write_bytes(b"not really a model, but bytes with a known hash")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def node_on_sshd(ssh_node, rack, settings):  # noqa: F811
    """node1 reached over the loopback sshd, with the appliance's key, the settings a rollout there needs, and
    a node prefix; whatever the test started below the prefix is killed afterwards."""
    # As an admin would: put the appliance's public key in the node's authorized_keys.
    _, public = ensure_keypair()
    with open(ssh_node.key.parent / "authorized_keys", "a") as fh:
        fh.write(public + "\n")
    # The model server's own account must reach the prefix, as it reaches a node's /opt.
    with node_prefix("e2e") as root:
        settings.MICRODC_ANSIBLE_EXTRA_VARS = {
            # This machine's python3 on PATH is a pyenv shim; the node's system Python is the real one.
            "ansible_python_interpreter": NODE_PYTHON,
            "microdc_service_prefix": str(root), "microdc_model_bind": "127.0.0.1",
            "mlserver_grpc_port": free_port(), "mlserver_metrics_port": free_port(),
            "microdc_model_health_timeout": 180,
        }
        settings.MICRODC_PUBLIC_URL = f"http://127.0.0.1:{free_port()}"  # nobody there: the agent spools
        # The job's events go to its group in this process (the Redis layer across processes is proven by
        # tests/dashboard/test_redis_processes.py); a minutes-long job must not hinge on one Redis connection.
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        channel_layers.backends.clear()
        node = Node.objects.create(hostname="node1", management_address="127.0.0.1", ssh_port=ssh_node.port,
                                   ssh_user="root", rack=rack, position_u=1)
        yield node, root
        # Whatever the test got to, nothing it started on the "node" outlives it (the agent, a model server).
        channel_layers.backends.clear()
        for pid in processes_mentioning(str(root)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
