"""Label sets and matchers, as Alertmanager defines them, so fingerprints and silences mean the same here and
in a site's Alertmanager.

- fingerprint: Prometheus' LabelSet.Fingerprint (FNV-1a 64 over the label names in order, each name and value
  followed by the 0xff separator byte), as 16 hex digits.
- matchers: API v2 objects ``{"name", "value", "isRegex", "isEqual"}``; a regex is anchored (RE2 in
  Alertmanager, Python's re here: the common subset behaves alike).
"""

import re
from collections.abc import Iterable, Mapping

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF


class MatcherError(ValueError):
    """A matcher that is malformed or could never match; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def fingerprint(labels: Mapping[str, str]) -> str:
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, str(labels[name])):
            for byte in part.encode():
                h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ _SEPARATOR) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def validate_matchers(matchers: object, field: str = "matchers", allow_empty: bool = True) -> list[dict]:
    """The matchers in canonical form, or MatcherError naming the offending element.

    Refused: a bad label name, an invalid regex, and a set that can match nothing (an equality matcher on an
    empty value together with another matcher on the same name, two different equalities on one name), and
    for silences a set that matches every alert (only empty or negative matchers)."""
    if not isinstance(matchers, list):
        raise MatcherError(field, "must be a list of matchers")
    if not matchers and not allow_empty:
        raise MatcherError(field, "at least one matcher is needed")
    out = []
    for i, matcher in enumerate(matchers):
        where = f"{field}[{i}]"
        if not isinstance(matcher, dict):
            raise MatcherError(where, 'must be an object {"name", "value", "isRegex", "isEqual"}')
        unknown = set(matcher) - {"name", "value", "isRegex", "isEqual"}
        if unknown:
            raise MatcherError(where, f"unknown keys {', '.join(sorted(unknown))}")
        name, value = matcher.get("name"), matcher.get("value")
        if not isinstance(name, str) or not LABEL_NAME.match(name):
            raise MatcherError(f"{where}.name", "must be a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        if not isinstance(value, str) or len(value) > 1000:
            raise MatcherError(f"{where}.value", "must be a string of at most 1000 characters")
        is_regex, is_equal = matcher.get("isRegex", False), matcher.get("isEqual", True)
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise MatcherError(where, "isRegex and isEqual must be true or false")
        if is_regex:
            try:
                re.compile(value)
            except re.error as exc:
                raise MatcherError(f"{where}.value", f"is not a valid regular expression: {exc}") from None
        out.append({"name": name, "value": value, "isRegex": is_regex, "isEqual": is_equal})
    _check_satisfiable(out, field)
    return out


def _check_satisfiable(matchers: list[dict], field: str) -> None:
    equal: dict[str, str] = {}
    for i, m in enumerate(matchers):
        if m["isEqual"] and not m["isRegex"]:
            other = equal.setdefault(m["name"], m["value"])
            if other != m["value"]:
                raise MatcherError(f"{field}[{i}]", f"{m['name']} cannot equal both {other!r} and {m['value']!r}: "
                                                    "the matchers can match nothing")
    for i, m in enumerate(matchers):
        if m["name"] in equal and not (m["isEqual"] and not m["isRegex"]) and not matches_one(m, equal[m["name"]]):
            raise MatcherError(f"{field}[{i}]", f"contradicts {m['name']}={equal[m['name']]!r}: "
                                                "the matchers can match nothing")


def matches_one(matcher: Mapping, value: str) -> bool:
    hit = re.fullmatch(matcher["value"], value) is not None if matcher["isRegex"] else value == matcher["value"]
    return hit if matcher["isEqual"] else not hit


def matches(matchers: Iterable[Mapping], labels: Mapping[str, str]) -> bool:
    """All matchers match (a missing label reads as the empty string, as in Alertmanager)."""
    return all(matches_one(m, str(labels.get(m["name"], ""))) for m in matchers)


def matches_everything(matchers: list[dict]) -> bool:
    """True when the matchers match the empty label set, so they would match every alert (refused for
    silences, as Alertmanager refuses them)."""
    return matches(matchers, {})
