"""Parsing shared by several commands (typer only)."""

from __future__ import annotations

from typing import Any

from llmcli.errors import UsageError


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """`-o KEY=VALUE` pairs → a dict; numbers and booleans become numbers and booleans."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"bad option {pair!r}: expected KEY=VALUE", hint="e.g. -o repetition_penalty=1.1")
        result[key] = _scalar(raw.strip())
    return result


def _scalar(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw
