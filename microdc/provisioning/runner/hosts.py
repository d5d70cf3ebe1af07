"""Targets of a job and the inventory file generated from them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HOSTNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
GROUP_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
ADDRESS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class Host:
    """One node to run against. ``name`` is the inventory name (the node's hostname); ``address`` is
    what SSH connects to. ``vars`` are extra host variables (e.g. ``ansible_python_interpreter``)."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not HOSTNAME_RE.match(self.name):
            raise ValueError(f"host name {self.name!r} is not a valid inventory name")
        if not ADDRESS_RE.match(self.address):
            raise ValueError(f"host {self.name}: address {self.address!r} is not a host name or IP address")
        if not (isinstance(self.port, int) and 1 <= self.port <= 65535):
            raise ValueError(f"host {self.name}: ssh port {self.port!r} is not 1-65535")
        if not USER_RE.match(self.user):
            raise ValueError(f"host {self.name}: ssh user {self.user!r} is not a valid user name")
        for group in self.groups:
            if not GROUP_RE.match(group):
                raise ValueError(f"host {self.name}: group {group!r} is not a valid group name")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Host:
        """Accept the wrapper's own keys or the node registry's (hostname, management_address,
        ssh_port, ssh_user), so the job service can pass API/DB dicts straight through."""
        def first(*keys: str, default: Any = None) -> Any:
            for key in keys:
                if data.get(key) not in (None, ""):
                    return data[key]
            return default

        name = first("name", "hostname")
        if not name:
            raise ValueError(f"host entry without a name: {sorted(data)}")
        return cls(
            name=str(name),
            address=str(first("address", "management_address", default=name)),
            port=int(first("port", "ssh_port", default=22)),
            user=str(first("user", "ssh_user", default="root")),
            groups=tuple(data.get("groups") or ()),
            vars=dict(data.get("vars") or {}),
        )

    def host_vars(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ansible_host": self.address,
            "ansible_port": self.port,
            "ansible_user": self.user,
            # Roles escalate with sudo unless the SSH user already is root.
            "microdc_become": self.user != "root",
        }
        out.update(self.vars)
        return out


def as_hosts(hosts: Sequence[Host | Mapping[str, Any]]) -> list[Host]:
    result = [h if isinstance(h, Host) else Host.from_mapping(h) for h in hosts]
    if not result:
        raise ValueError("a job needs at least one host")
    names = [h.name for h in result]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"hosts listed twice: {', '.join(duplicates)}")
    return result


def build_inventory(hosts: Sequence[Host], ssh_common_args: str) -> dict[str, Any]:
    """Ansible's YAML inventory structure for the hosts."""
    groups: dict[str, dict[str, Any]] = {}
    for host in hosts:
        for group in host.groups:
            groups.setdefault(group, {"hosts": {}})["hosts"][host.name] = {}
    return {
        "all": {
            "hosts": {h.name: h.host_vars() for h in hosts},
            "vars": {"ansible_ssh_common_args": ssh_common_args},
            "children": groups,
        }
    }
