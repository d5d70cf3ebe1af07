"""Jinja filters that write user-provided strings into systemd files without changing their meaning.

systemd reads ExecStart= words with C-style quoting, then expands %-specifiers and $VARIABLES; an
EnvironmentFile= value is read with shell-like double quotes. A value that went through these filters
reaches the process byte for byte, whatever quotes, dollars, percent signs or semicolons it holds.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def _check(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise AnsibleFilterError(f"{what} must be a string, got {type(value).__name__}")
    if "\0" in value or "\n" in value or "\r" in value:
        raise AnsibleFilterError(f"{what} must not contain NUL or line breaks")
    return value


def systemd_exec_arg(value: Any) -> str:
    """One ExecStart= word: always double-quoted; backslash, quote, specifier and variable escaped."""
    text = _check(value, "a command-line argument")
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "%":
            out.append("%%")
        elif ch == "$":
            out.append("$$")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def systemd_exec_line(argv: Any) -> str:
    """ExecStart= value from an argv list (never a shell string)."""
    if not isinstance(argv, (list, tuple)) or not argv:
        raise AnsibleFilterError("argv must be a non-empty list of strings")
    return " ".join(systemd_exec_arg(a) for a in argv)


def systemd_specifier_escape(value: Any) -> str:
    """A path or description in a unit setting: only %-specifiers need escaping there."""
    return _check(value, "a unit setting").replace("%", "%%")


def systemd_env_line(key: Any, value: Any) -> str:
    """KEY="value" for an EnvironmentFile=; backslash escapes systemd's SHELL_NEED_ESCAPE set."""
    key = _check(key, "an environment variable name")
    if not key or not (key[0].isalpha() or key[0] == "_") or not all(c.isalnum() or c == "_" for c in key):
        raise AnsibleFilterError(f"invalid environment variable name {key!r}")
    text = _check(str(value) if isinstance(value, (int, float)) else value, f"the value of {key}")
    escaped = "".join("\\" + ch if ch in '\\"`$' else ch for ch in text)
    return f'{key}="{escaped}"'


class FilterModule:
    def filters(self) -> dict:
        return {
            "microdc_systemd_exec_arg": systemd_exec_arg,
            "microdc_systemd_exec_line": systemd_exec_line,
            "microdc_systemd_escape": systemd_specifier_escape,
            "microdc_systemd_env_line": systemd_env_line,
        }
