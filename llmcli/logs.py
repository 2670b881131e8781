"""Log formatting that never lets a secret through (stdlib only)."""

from __future__ import annotations

import logging
import re

# Authorization headers, API-key headers, key=... query parameters and common key shapes.
_PATTERNS = [
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(bearer|basic|api-key)\s+\S+"), r"\1\2 [redacted]"),
    (re.compile(r"(?i)((?:x-)?api[-_]?key\s*[:=]\s*)\S+"), r"\1[redacted]"),
    (re.compile(r"(?i)([?&](?:key|api_key|token|access_token)=)[^&\s]+"), r"\1[redacted]"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-[redacted]"),
    (re.compile(r"\bt1\.[A-Za-z0-9_.=-]{16,}"), "t1.[redacted]"),
    (re.compile(r"\by[0-3]_[A-Za-z0-9_-]{16,}"), "y_[redacted]"),
]

_known_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a loaded secret so that any log line containing it is redacted."""
    if value and len(value) >= 6:
        _known_secrets.add(value)


def redact(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname_lower)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.levelname_lower = "debug" if record.levelno < logging.INFO else record.levelname.lower()
        return redact(super().format(record))
