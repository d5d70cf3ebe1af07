"""The playbooks and roles are clean under ansible-lint's production profile (.ansible-lint)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.playbooks.ansible_helpers import PLAYBOOKS, REPO


@pytest.mark.parametrize("cwd, lint", [
    (REPO, ".venv/bin/ansible-lint"),            # as .ansible-lint's own comment says
    (PLAYBOOKS, "../.venv/bin/ansible-lint"),    # as playbooks/README.md says
], ids=["repo-root", "playbooks"])
def test_ansible_lint_production_profile_passes(cwd, lint):
    # Exactly the documented command, from where it is documented: no extra flags, no other cwd.
    proc = subprocess.run([lint, "--nocolor"], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


def test_playbooks_pass_ansible_syntax_check():
    playbook = Path(sys.executable).parent / "ansible-playbook"
    for name in ("bootstrap_node.yml", "deploy_model_server.yml", "remove_model_server.yml"):
        proc = subprocess.run([str(playbook), "--syntax-check", "-i", "localhost,", name], cwd=PLAYBOOKS,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, name + proc.stdout + proc.stderr
