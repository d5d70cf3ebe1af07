"""Which model server a GPU process belongs to: pid -> the microdc-model service it runs under.

A deployment named N runs as the service ``microdc-model-N`` (playbooks/roles/microdc_model), either as a
systemd unit or, where systemd is not the init, supervised by microdc_supervise.py, which writes
``<run_dir>/<service>.pid`` holding "<supervisor pid> <child pid>" (playbooks/roles/microdc_service).

For a pid, in this order:
1. its systemd unit from ``<proc>/<pid>/cgroup``: cgroup v2 ``0::/system.slice/microdc-model-N.service``
   (or a path below it), cgroup v1 the ``name=systemd`` hierarchy's path. A unit's children share its
   cgroup, so a runtime's worker processes map without walking anything.
2. else the pidfile service it descends from: the pid itself or an ancestor (``PPid`` in
   ``<proc>/<pid>/status``) is a pid a ``microdc-model-*.pid`` file names.

A process that maps to no microdc-model service (a user's notebook, a stray benchmark) is not reported:
its utilization is attributed to no deployment, and the GPU's energy split counts it nowhere. The proc root
and run dir are parameters so tests read a fake tree.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

SERVICE_PREFIX = "microdc-model-"
DEFAULT_RUN_DIR = "/run/microdc"
# Systemd unit and pidfile names as the roles write them (microdc_service: ^[a-z0-9][a-z0-9_.-]{0,79}$).
_SERVICE = re.compile(r"^microdc-model-[a-z0-9][a-z0-9_.-]{0,65}$")
_UNIT_IN_PATH = re.compile(r"/(microdc-model-[a-z0-9][a-z0-9_.-]{0,65})\.service(?:/|$)")
_MAX_ANCESTORS = 64  # deeper than any real process tree; a guard against a corrupt or cyclic fake tree


def unit_from_cgroup(text: str) -> str | None:
    """The microdc-model unit a ``/proc/<pid>/cgroup`` text names (v2 line, else v1 name=systemd), or None."""
    v1 = v2 = None
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif controllers == "name=systemd":
            v1 = path
    for path in (v2, v1):
        match = _UNIT_IN_PATH.search(path or "")
        if match:
            return match.group(1)
    return None


class ProcessMap:
    """Maps pids to microdc-model service names. ``refresh()`` rereads the pidfiles (once per collection);
    ``service_of(pid)`` reads the process's cgroup and ancestry fresh, since pids are reused."""

    def __init__(self, proc_root: str = "/proc", run_dir: str = DEFAULT_RUN_DIR) -> None:
        self.proc = Path(proc_root)
        self.run_dir = Path(run_dir)
        self._pidfile_services: dict[int, str] = {}

    def refresh(self) -> None:
        services: dict[int, str] = {}
        try:
            pidfiles = sorted(self.run_dir.glob(f"{SERVICE_PREFIX}*.pid"))
        except OSError:
            pidfiles = []
        for path in pidfiles:
            name = path.name.removesuffix(".pid")
            if not _SERVICE.match(name):
                continue
            try:
                words = path.read_text(encoding="ascii").split()
            except (OSError, UnicodeDecodeError):
                continue  # removed or being replaced: the service is seen at the next collection
            for word in words[:2]:  # supervisor pid, child pid
                if word.isdigit() and int(word) > 0:
                    services[int(word)] = name
        self._pidfile_services = services

    def service_of(self, pid: int) -> str | None:
        try:
            unit = unit_from_cgroup((self.proc / str(pid) / "cgroup").read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None  # the process is gone (or hidden from us): nothing to attribute it to
        if unit is not None:
            return unit
        current, seen = pid, set()
        while current > 1 and current not in seen and len(seen) < _MAX_ANCESTORS:
            if current in self._pidfile_services:
                return self._pidfile_services[current]
            seen.add(current)
            current = self._parent(current)
        return None

    def _parent(self, pid: int) -> int:
        try:
            text = (self.proc / str(pid) / "status").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return 0
        for line in text.splitlines():
            if line.startswith("PPid:"):
                value = line[5:].strip()
                return int(value) if value.isdigit() else 0
        return 0
