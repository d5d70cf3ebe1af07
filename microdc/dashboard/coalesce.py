"""How several updates of one group become one message: the rule the server applies per connection, and the
browser applies to the state it holds.

- a dict value is merged into the held one key by key (one level): ``nodes`` and ``meters`` keep the latest
  entry per id, a newer ``summary`` overwrites every key of the older one;
- a list value is appended: job ``events`` are a stream and none may be lost;
- anything else (``status``) is replaced by the newer value.
"""

from typing import Any


def merge(into: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge `update` into `into` (changed in place, and returned). Neither argument's nested values are shared."""
    for key, value in update.items():
        current = into.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            current.update(value)
        elif isinstance(value, list) and isinstance(current, list):
            current.extend(value)
        elif isinstance(value, dict):
            into[key] = dict(value)
        elif isinstance(value, list):
            into[key] = list(value)
        else:
            into[key] = value
    return into
