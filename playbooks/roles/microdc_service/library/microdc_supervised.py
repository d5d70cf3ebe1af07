#!/usr/bin/python
"""Ansible module: keep a process supervised by microdc_supervise.py in the wanted state."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: microdc_supervised
short_description: Start, restart or stop a process under microdc's supervisor (no systemd)
description:
  - Drives C(microdc_supervise.py) on the node; reports a change only when the process state changes.
  - Supports check mode.
options:
  spec:
    description: Path of the supervisor's JSON spec on the node.
    type: path
    required: true
  tool:
    description: Path of microdc_supervise.py on the node.
    type: path
    required: true
  state:
    description: Wanted state.
    type: str
    choices: [started, restarted, stopped]
    default: started
author:
  - microdc
"""

EXAMPLES = r"""
- name: Keep the agent running
  microdc_supervised:
    spec: /etc/microdc/supervised/microdc-agent.json
    tool: /opt/microdc/lib/microdc_supervise.py
    state: started
"""

RETURN = r"""
pid:
  description: Supervisor pid after the task (0 when stopped).
  type: int
  returned: always
child_pid:
  description: Supervised process pid after the task (0 when stopped).
  type: int
  returned: always
"""

import json
import os
import sys

from ansible.module_utils.basic import AnsibleModule


def _call(module: AnsibleModule, tool: str, verb: str, spec: str) -> tuple[int, dict, str]:
    rc, out, err = module.run_command([sys.executable, tool, verb, spec])
    try:
        data = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    except ValueError:
        data = {}
    return rc, data, (err or out).strip()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "spec": {"type": "path", "required": True},
            "tool": {"type": "path", "required": True},
            "state": {"type": "str", "default": "started", "choices": ["started", "restarted", "stopped"]},
        },
        supports_check_mode=True,
    )
    spec, tool, state = module.params["spec"], module.params["tool"], module.params["state"]

    if not os.path.exists(tool) or not os.path.exists(spec):
        # Only possible in check mode (earlier tasks would have written both) or when nothing was
        # ever installed: a stop is then a no-op, a start would happen.
        if module.check_mode or state == "stopped":
            module.exit_json(changed=state != "stopped", pid=0, child_pid=0)
        module.fail_json(msg=f"missing {tool if not os.path.exists(tool) else spec}")

    rc, current, err = _call(module, tool, "status", spec)
    if rc not in (0, 3):
        module.fail_json(msg=f"status of {spec} failed: {err}")
    running = rc == 0

    if state == "started" and running:
        module.exit_json(changed=False, pid=current.get("pid", 0), child_pid=current.get("child_pid", 0))
    if state == "stopped" and not running and not os.path.exists(current.get("pidfile", "")):
        module.exit_json(changed=False, pid=0, child_pid=0)
    if module.check_mode:
        module.exit_json(changed=True, pid=current.get("pid", 0), child_pid=current.get("child_pid", 0))

    if state in ("restarted", "stopped") and (running or state == "stopped"):
        rc, _, err = _call(module, tool, "stop", spec)
        if rc != 0:
            module.fail_json(msg=f"stop of {spec} failed: {err}")
        if state == "stopped":
            module.exit_json(changed=True, pid=0, child_pid=0)

    rc, after, err = _call(module, tool, "start", spec)
    if rc != 0 or not after.get("running"):
        module.fail_json(msg=f"start of {spec} failed: {after.get('msg') or err}")
    module.exit_json(changed=True, pid=after.get("pid", 0), child_pid=after.get("child_pid", 0))


if __name__ == "__main__":
    main()
