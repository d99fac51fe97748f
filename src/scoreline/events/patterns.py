"""EventBridge event patterns, the subset scoreline supports.

A pattern is a mapping shaped like the event envelope (``source``, ``detail-type``,
``detail``...). Each leaf is a list of allowed values; an allowed value is an exact value
(string, number, boolean, null) or ``{"prefix": "..."}``. A nested mapping matches a nested
object. Every key of the pattern must match; keys the pattern does not name are ignored.
"""

from __future__ import annotations

from typing import Any

from scoreline.errors import ConfigError


def validate_pattern(pattern: Any, where: str) -> None:
    """Raise a one-line error when ``pattern`` is not a supported event pattern."""
    if not isinstance(pattern, dict) or not pattern:
        raise ConfigError("an event pattern must be a non-empty mapping", where=where)
    for key, value in pattern.items():
        if isinstance(value, dict):
            validate_pattern(value, f"{where}.{key}")
            continue
        if not isinstance(value, list) or not value:
            raise ConfigError(
                f"'{key}' must be a list of allowed values",
                where=where,
                hint='e.g. detail-type: ["Model Quality Violation"]',
            )
        for allowed in value:
            if isinstance(allowed, dict) and set(allowed) != {"prefix"}:
                raise ConfigError(
                    f"'{key}': only {{prefix: ...}} is supported besides exact values",
                    where=where,
                )


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """True when ``event`` (an envelope) satisfies every key of ``pattern``."""
    for key, expected in pattern.items():
        if key not in event:
            return False
        actual = event[key]
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or not matches(expected, actual):
                return False
        elif not any(_leaf(allowed, actual) for allowed in expected):
            return False
    return True


def _leaf(allowed: Any, actual: Any) -> bool:
    if isinstance(actual, list):
        return any(_leaf(allowed, item) for item in actual)
    if isinstance(allowed, dict):
        return isinstance(actual, str) and actual.startswith(str(allowed["prefix"]))
    if isinstance(allowed, bool) or isinstance(actual, bool):
        return allowed is actual
    return bool(allowed == actual)
