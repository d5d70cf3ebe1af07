"""ansible-runner wrapper for microdc's playbooks (plain Python, no Django).

    from microdc.provisioning.runner import Host, run_playbook, EventBatcher

    with EventBatcher(store_batch) as batcher:
        result = run_playbook(
            "deploy_model_server.yml",
            [Host(name="gpu-01", address="10.0.0.11", user="root")],
            extravars={"microdc_runtime": "mlserver", "microdc_model_name": "iris", ...},
            private_key_path="/var/lib/microdc/ssh/id_ed25519",
            timeout=1800, on_event=batcher, should_cancel=job_was_canceled,
        )
    result.status, result.hosts["gpu-01"].changed, result.stdout_path
"""

from .batching import EventBatcher
from .hosts import Host
from .results import REPORTED_FACTS, HostResult, JobResult
from .run import PLAYBOOKS, PLAYBOOKS_DIR, RunningJob, load_inventory, run_playbook
from .scrub import REDACTED
from .unsafe import dump_unsafe_yaml, mark_unsafe

__all__ = [
    "PLAYBOOKS",
    "PLAYBOOKS_DIR",
    "REDACTED",
    "REPORTED_FACTS",
    "EventBatcher",
    "Host",
    "HostResult",
    "JobResult",
    "RunningJob",
    "dump_unsafe_yaml",
    "load_inventory",
    "mark_unsafe",
    "run_playbook",
]
