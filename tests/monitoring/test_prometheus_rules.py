"""The shipped Prometheus rules: `promtool check rules` is clean and `promtool test rules` passes (input series,
the alerts expected at each time, and silence on healthy data)."""

import subprocess
from pathlib import Path

from tests.support import require_binary

RULES = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess:
    return subprocess.run([require_binary("promtool", "prometheus"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_the_rules_file_is_valid():
    done = promtool("check", "rules", "microdc.rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 20 rules found" in done.stdout


def test_the_rules_unit_tests_pass():
    done = promtool("test", "rules", "microdc.rules.test.yml", cwd=RULES / "tests")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
