"""Extra variables for Ansible, marked ``!unsafe`` as a whole.

Ansible evaluates Jinja in variables it trusts. Anything a user typed (model names, arguments,
environment values, URLs) must reach the playbook as plain data, so the wrapper writes extravars as a
YAML document whose top-level mapping carries the ``!unsafe`` tag: ansible-core constructs everything
below an unsafe node as untrusted, so ``{{ lookup('pipe', ...) }}`` in any value, at any depth, stays
those characters and is never run.

The tag sits on the mapping rather than on each string on purpose: ansible-core (2.19+) re-resolves
the type of an ``!unsafe`` *scalar* as if it were unquoted, so ``!unsafe "0123"`` would arrive as the
integer 123 and ``!unsafe "true"`` as a boolean. Inside an unsafe mapping, quoted scalars keep their
type. The file replaces runner's ``extravars=`` argument, which would put the values (secrets
included) on ansible-playbook's command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


class _UnsafeMapping(dict):
    """A mapping that the dumper writes with the !unsafe tag."""


class _UnsafeDumper(yaml.SafeDumper):
    pass


def _represent_unsafe_mapping(dumper: yaml.SafeDumper, value: _UnsafeMapping) -> yaml.MappingNode:
    return dumper.represent_mapping("!unsafe", dict(value))


_UnsafeDumper.add_representer(_UnsafeMapping, _represent_unsafe_mapping)


def plain_data(value: Any, _path: str = "extravars") -> Any:
    """A copy of value made of dict/list/str/int/float/bool/None only, or TypeError naming the path."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{_path}: mapping keys must be strings, got {key!r}")
            out[str(key)] = plain_data(item, f"{_path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [plain_data(item, f"{_path}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{_path}: {type(value).__name__} cannot be passed to Ansible")


def mark_unsafe(variables: Mapping[str, Any]) -> _UnsafeMapping:
    """variables as a mapping that is dumped with the !unsafe tag."""
    return _UnsafeMapping(plain_data(variables))


def dump_unsafe_yaml(variables: Mapping[str, Any]) -> str:
    """YAML text of variables: one !unsafe mapping; the dumper quotes strings that look like numbers,
    booleans or null, so every value keeps its type."""
    return yaml.dump(mark_unsafe(variables), Dumper=_UnsafeDumper, allow_unicode=True, sort_keys=True,
                     default_flow_style=False, width=1 << 16)
