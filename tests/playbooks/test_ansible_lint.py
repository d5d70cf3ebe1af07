"""The playbooks and roles are clean under ansible-lint's production profile (.ansible-lint)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.playbooks.ansible_helpers import PLAYBOOKS, REPO


def test_ansible_lint_production_profile_passes():
    lint = Path(sys.executable).parent / "ansible-lint"
    # Run from playbooks/ so ansible.cfg there gives ansible-lint the roles path.
    proc = subprocess.run([str(lint), "--offline", "--profile", "production", "--nocolor"], cwd=PLAYBOOKS,
                          capture_output=True, text=True, timeout=300)
    assert (REPO / ".ansible-lint").exists()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


def test_playbooks_pass_ansible_syntax_check():
    playbook = Path(sys.executable).parent / "ansible-playbook"
    for name in ("bootstrap_node.yml", "deploy_model_server.yml", "remove_model_server.yml"):
        proc = subprocess.run([str(playbook), "--syntax-check", "-i", "localhost,", name], cwd=PLAYBOOKS,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, name + proc.stdout + proc.stderr
