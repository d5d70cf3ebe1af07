"""inventory/microdc.py: groups from the node registry, read from a JSON file or from the appliance's
paginated API (a loopback stand-in that checks the token), usable through ansible-inventory."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.playbooks.ansible_helpers import REPO

SCRIPT = REPO / "inventory" / "microdc.py"
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"

NODES = [
    {"hostname": "gpu-01", "management_address": "10.0.0.11", "ssh_port": 22, "ssh_user": "root",
     "status": "active", "site_slug": "plant-1", "rack_name": "R1", "simulated": False,
     "accelerators": [{"index": 0, "kind": "gpu", "vendor": "nvidia", "model": "H100", "uuid": "GPU-aaaa"},
                      {"index": 1, "kind": "gpu", "vendor": "nvidia", "model": "H100", "uuid": "GPU-bbbb"}]},
    {"hostname": "npu-01", "management_address": "10.0.0.12", "ssh_port": 2222, "ssh_user": "ops",
     "status": "maintenance", "site_slug": "plant-1", "rack_name": "R 2", "simulated": True,
     "accelerators": [{"index": 0, "kind": "npu", "vendor": "huawei", "model": "910B", "uuid": "NPU-1"}]},
    {"hostname": "cpu-01", "management_address": "10.0.0.13", "ssh_port": 22, "ssh_user": "root",
     "status": "offline", "site_slug": "plant-2", "rack_name": "A", "simulated": False, "accelerators": []},
    {"hostname": "old-01", "management_address": "10.0.0.14", "ssh_port": 22, "ssh_user": "root",
     "status": "decommissioned", "site_slug": "plant-1", "rack_name": "R1", "simulated": False,
     "accelerators": [{"index": 0, "kind": "gpu", "vendor": "nvidia", "model": "A100", "uuid": "GPU-cccc"}]},
]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRODC_")}
    env.update(extra)
    return env


def ansible_inventory(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(REPO / "inventory"), *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def check_groups(listing: dict[str, Any]) -> None:
    hostvars = listing["_meta"]["hostvars"]
    assert set(hostvars) == {"gpu-01", "npu-01", "cpu-01"}  # decommissioned left out
    assert listing["gpu_nodes"]["hosts"] == ["gpu-01"]
    assert listing["npu_nodes"]["hosts"] == ["npu-01"]
    assert sorted(listing["site_plant_1"]["hosts"]) == ["gpu-01", "npu-01"]
    assert listing["rack_plant_1_r_2"]["hosts"] == ["npu-01"]
    assert listing["status_offline"]["hosts"] == ["cpu-01"]
    assert listing["simulated"]["hosts"] == ["npu-01"]
    npu = hostvars["npu-01"]
    assert (npu["ansible_host"], npu["ansible_port"], npu["ansible_user"], npu["microdc_become"]) == (
        "10.0.0.12", 2222, "ops", True)
    assert [a["uuid"] for a in hostvars["gpu-01"]["microdc_accelerators"]] == ["GPU-aaaa", "GPU-bbbb"]
    # group_vars/all.yml applies to every host.
    assert hostvars["gpu-01"]["microdc_service_mode"] == "auto"


def test_file_mode_through_ansible_inventory(tmp_path):
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps(NODES))
    env = clean_env(MICRODC_INVENTORY_FILE=str(nodes))
    listing = ansible_inventory(env, "--list")
    check_groups(listing)
    host = ansible_inventory(env, "--host", "gpu-01")
    assert host["ansible_host"] == "10.0.0.11" and host["microdc_site"] == "plant-1"


def test_missing_settings_give_a_clear_error():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--list"], env=clean_env(), capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "MICRODC_URL and MICRODC_TOKEN not set" in proc.stderr
    assert "MICRODC_INVENTORY_FILE" in proc.stderr


def test_script_is_executable_and_stdlib_only():
    assert os.access(SCRIPT, os.X_OK)
    source = SCRIPT.read_text()
    assert "import microdc" not in source and "from microdc" not in source


@pytest.fixture
def registry() -> Iterator[dict[str, Any]]:
    """The appliance's GET /api/v1/nodes/ on loopback: token auth, pages of two."""
    state: dict[str, Any] = {"token": "api-token-123", "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            state["requests"].append({"path": url.path, "query": query, "auth": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != f"Token {state['token']}":
                self.send_response(401)
                self.end_headers()
                return
            page = int(query.get("page", ["1"])[0])
            chunk = NODES[(page - 1) * 2: page * 2]
            more = page * 2 < len(NODES)
            size = query["page_size"][0]
            body = {"count": len(NODES), "results": chunk,
                    "next": f"{url.path}?page_size={size}&page={page + 1}" if more else None}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def test_api_mode_follows_pages_with_the_token(registry):
    env = clean_env(MICRODC_URL=registry["url"], MICRODC_TOKEN=registry["token"])
    check_groups(ansible_inventory(env, "--list"))
    paths = [(r["path"], r["query"].get("page_size")) for r in registry["requests"]]
    assert paths[0] == ("/api/v1/nodes/", ["500"])
    assert len(paths) == 2 and all(r["auth"] == "Token api-token-123" for r in registry["requests"])


def test_api_mode_reports_a_bad_token(registry):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--list"],
                          env=clean_env(MICRODC_URL=registry["url"], MICRODC_TOKEN="wrong"),
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "HTTP 401" in proc.stderr and "check MICRODC_TOKEN" in proc.stderr
