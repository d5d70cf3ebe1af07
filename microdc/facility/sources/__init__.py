"""Facility meter sources: read a meter over its protocol and return readings in base units.

See ``base`` for the interface; each protocol module documents its settings schema.
"""

from .base import (
    PROTOCOLS,
    QUANTITIES,
    MeterError,
    MeterSource,
    Reading,
    SettingsError,
    get_source,
)

__all__ = ["PROTOCOLS", "QUANTITIES", "MeterError", "MeterSource", "Reading", "SettingsError", "get_source"]
