"""Small, strict readers for meter settings: each failure names the field, each default is explicit.

Unknown keys are rejected rather than ignored, because a typo such as ``verify_ssl`` silently falling
back to the default is the kind of mistake an operator never finds.
"""

from __future__ import annotations

import math
from typing import Any

from .base import QUANTITIES, SettingsError

_MISSING: Any = object()


class Fields:
    """Reads one settings object; ``prefix`` makes nested field names like ``registers[2].type``."""

    def __init__(self, data: Any, prefix: str = ""):
        self.prefix = prefix
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SettingsError(prefix.rstrip(".") or "settings", "must be an object")
        self.data = data
        self.seen: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise SettingsError(self.name(key), "is required")
            return default
        return value

    def string(self, key: str, default: Any = _MISSING, *, allow_empty: bool = False, max_length: int = 1000) -> Any:
        value = self._get(key, default)
        if value is None:
            return None  # optional (default None) and absent
        if not isinstance(value, str):
            raise SettingsError(self.name(key), "must be a string")
        value = value.strip()
        if not value and not allow_empty:
            raise SettingsError(self.name(key), "must not be empty")
        if len(value) > max_length:
            raise SettingsError(self.name(key), f"is longer than {max_length} characters")
        return value

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int, maximum: int) -> Any:
        """A whole number in range; ``default=None`` makes it optional (None when absent)."""
        value = self._get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise SettingsError(self.name(key), "must be a whole number")
        if not minimum <= value <= maximum:
            raise SettingsError(self.name(key), f"must be between {minimum} and {maximum}, got {value}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, nonzero: bool = False) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(self.name(key), "must be a number")
        value = float(value)
        if not math.isfinite(value):
            raise SettingsError(self.name(key), "must be a finite number")
        if nonzero and value == 0:
            raise SettingsError(self.name(key), "must not be zero")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise SettingsError(self.name(key), "must be true or false")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if value not in choices:
            raise SettingsError(self.name(key), f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def quantity(self, key: str = "quantity") -> str:
        value = self._get(key, _MISSING)
        if value not in QUANTITIES:
            expected = ", ".join(sorted(QUANTITIES))
            raise SettingsError(self.name(key), f"unknown quantity {value!r}; expected one of {expected}")
        return value

    def objects(self, key: str, default: Any = _MISSING, *, max_items: int = 500) -> list[Fields]:
        value = self._get(key, default)
        if not isinstance(value, list):
            raise SettingsError(self.name(key), "must be a list")
        if len(value) > max_items:
            raise SettingsError(self.name(key), f"has more than {max_items} entries")
        return [Fields(item, f"{self.name(key)}[{index}].") for index, item in enumerate(value)]

    def strings(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> list[str]:
        value = self._get(key, default)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise SettingsError(self.name(key), "must be a list of strings")
        for item in value:
            if item not in choices:
                raise SettingsError(self.name(key), f"unknown entry {item!r}; expected some of {', '.join(choices)}")
        return list(dict.fromkeys(value))

    def done(self) -> None:
        """Reject keys nobody asked for (typos, settings of another protocol)."""
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            expected = ", ".join(sorted(self.seen))
            raise SettingsError(self.name(unknown[0]), f"unknown setting; expected one of {expected}")


def secret_string(secret: dict, key: str, *, required: bool) -> str | None:
    """A secret value (password, key, token): a non-empty string, or absent when not required."""
    value = secret.get(key)
    if value is None or value == "":
        if required:
            raise SettingsError(f"secret.{key}", "is required")
        return None
    if not isinstance(value, str):
        raise SettingsError(f"secret.{key}", "must be a string")
    return value


def channel(fields: Fields, key: str = "channel") -> str:
    return fields.string(key, "", allow_empty=True, max_length=100)
