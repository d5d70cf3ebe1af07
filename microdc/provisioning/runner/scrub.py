"""Keep secrets out of stored events and stdout, whatever a task printed.

Roles mark secret-bearing tasks ``no_log``, so Ansible censors them; this is the second wall: every
event the wrapper forwards (and the copy runner writes to disk) has each known secret value replaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "********"
# Extra variables whose names say they hold a secret are redacted without being listed.
SECRET_NAME_RE = re.compile(r"(token|password|passwd|secret|api_?key|private_?key|credential)", re.I)
# Shorter values would redact ordinary words and numbers all over the output.
MIN_SECRET_LEN = 6


def secrets_in(variables: Mapping[str, Any], explicit: Iterable[str] = ()) -> list[str]:
    """Values to redact: the explicit ones, plus every string under a secret-looking variable name
    (at any depth, so ``env: {HF_TOKEN: ...}`` counts)."""
    found: set[str] = {s for s in explicit if isinstance(s, str) and len(s) >= MIN_SECRET_LEN}

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, str):
            if secret and len(value) >= MIN_SECRET_LEN:
                found.add(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, secret or bool(SECRET_NAME_RE.search(str(key))))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, secret)

    walk(variables, False)
    # Longest first, so a secret that contains another is replaced whole.
    return sorted(found, key=len, reverse=True)


class Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if s]
        self._re = re.compile("|".join(re.escape(s) for s in self.secrets)) if self.secrets else None

    def text(self, value: str) -> str:
        return self._re.sub(REDACTED, value) if self._re else value

    def inplace(self, value: Any) -> Any:
        """Redact strings in dicts and lists in place (runner writes the same dict to disk after the
        handler returns); returns the value for convenience."""
        if self._re is None:
            return value
        if isinstance(value, dict):
            for key, item in value.items():
                value[key] = self.text(item) if isinstance(item, str) else self.inplace(item)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = self.text(item) if isinstance(item, str) else self.inplace(item)
        return value

    def file(self, path: str) -> None:
        """Rewrite a text file (runner's stdout) with the secrets redacted."""
        if self._re is None:
            return
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            return
        cleaned = self.text(text)
        if cleaned != text:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(cleaned)
