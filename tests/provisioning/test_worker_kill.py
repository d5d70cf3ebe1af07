"""Kill the real worker process in the middle of a job, start it again: the job is "interrupted" and its
node unlocked, and the restarted worker goes on taking jobs."""

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from microdc.provisioning.models import Job, NodeLock
from tests.support import shared_database_url, wait_for

ROOT = Path(__file__).resolve().parents[2]


class TrickleHandler(http.server.BaseHTTPRequestHandler):
    """An artifact download that never finishes: the job stays in its first step."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        try:
            for _ in range(600):
                self.wfile.write(b"x" * 16)
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_killed_worker_leaves_the_job_interrupted_and_the_node_unlocked(client_for, node, settings, tmp_path):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.MICRODC_ARTIFACT_URL_ALLOW = ["127.0.0.1"]  # the API's check; the worker's is in its env below
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TrickleHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, DATABASE_URL=shared_database_url(), MICRODC_DATA_DIR=str(settings.DATA_DIR),
               DJANGO_SETTINGS_MODULE="microdc.settings", MICRODC_LOG_LEVEL="WARNING",
               MICRODC_ARTIFACT_URL_ALLOW="127.0.0.1")  # the trickling registry is on loopback

    def start_worker():
        return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "run_worker"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    body = {"name": "slow", "runtime": "mlserver", "revision": {
        "artifact": f"http://127.0.0.1:{server.server_port}/model.joblib", "artifact_sha256": "0" * 64,
        "nodes": [node.hostname], "port": 18080}}
    job_id = client_for("operator").post("/api/v1/deployments/", body, format="json").json()["job"]["id"]
    worker = start_worker()
    restarted = None
    try:
        assert wait_for(lambda: Job.objects.get(pk=job_id).status == "running", timeout=60), \
            "the worker never took the job"
        running = Job.objects.get(pk=job_id)
        assert running.worker.endswith(f":{worker.pid}")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        assert Job.objects.get(pk=job_id).status == "running"  # nobody is left to say otherwise
        assert NodeLock.objects.filter(node=node).exists()

        restarted = start_worker()
        assert wait_for(lambda: Job.objects.get(pk=job_id).status == "interrupted", timeout=30), \
            Job.objects.get(pk=job_id).status
        assert not NodeLock.objects.filter(node=node).exists()
        assert "interrupted" in Job.objects.get(pk=job_id).summary
        # The node takes a new job, and the restarted worker runs it.
        second = client_for("operator").patch(f"/api/v1/deployments/{running.deployment_id}/",
                                              {"artifact": "/nowhere/model.joblib"}, format="json")
        assert second.status_code == 202, second.content
        second_id = second.json()["job"]["id"]
        assert wait_for(lambda: Job.objects.get(pk=second_id).status == "failed", timeout=60)
        assert "outside the allowed artifact directories" in Job.objects.get(pk=second_id).summary
    finally:
        for process in (worker, restarted):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
        server.shutdown()
