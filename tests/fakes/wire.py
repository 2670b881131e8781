"""What the fake servers speak and record: wire helpers (SSE, NDJSON, chunked), the Fault type,
and the request log. Re-exported by tests.fakes.base, which is what fakes and tests import."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# ---------------------------------------------------------------------------------------------
# Wire helpers


def sse_event(data: str | Mapping[str, Any] | list, *, event: str | None = None, id: str | None = None) -> bytes:
    """One SSE event; dicts are JSON-encoded (UTF-8, not \\u-escaped). Multi-line data → several data: lines."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    lines = []
    if event:
        lines.append(f"event: {event}")
    if id:
        lines.append(f"id: {id}")
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def sse_comment(text: str = "keep-alive") -> bytes:
    return f": {text}\n\n".encode()


def ndjson_line(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")


def chunked_frame(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (b"" gives the terminating zero-length chunk)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def html_page(title: str, text: str = "") -> bytes:
    body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p>" + (
        "<!-- padding -->" * 200
    )
    return (body + "</body></html>").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True)
class Fault:
    """One misbehaviour, consumed by the next request whose path contains `path` (any if None).

    kinds:
      respond      — answer `status` with `body`/`headers`/`content_type` instead of the protocol
      reset        — TCP reset before the first response byte
      reset_after  — stream `after` frames, then TCP reset
      stall        — stream `after` frames, then go silent for `seconds`, then carry on
      trickle      — from frame `after` on, every byte is its own chunk, `interval` apart (for at most `seconds`)
      malformed    — stream `after` frames, then `payload` (default: the handler's broken frame), then end
      delay        — wait `seconds` before the response starts, then answer normally
    """

    kind: str
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    after: int = 0
    seconds: float = 0.0
    interval: float = 0.05
    payload: bytes | None = None
    path: str | None = None

    KINDS = ("respond", "reset", "reset_after", "stall", "trickle", "malformed", "delay")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; kinds: {', '.join(self.KINDS)}")

    # --- constructors for the common cases

    @classmethod
    def respond(
        cls,
        status: int,
        body: bytes | str = b"",
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
    ) -> Fault:
        data = body.encode("utf-8") if isinstance(body, str) else body
        return cls("respond", status=status, body=data, content_type=content_type, headers=dict(headers or {}), path=path)

    @classmethod
    def json(
        cls, status: int, obj: Any, *, headers: Mapping[str, str] | None = None, path: str | None = None
    ) -> Fault:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        return cls.respond(status, body, content_type="application/json", headers=headers, path=path)

    @classmethod
    def html(cls, status: int, title: str, *, headers: Mapping[str, str] | None = None, path: str | None = None) -> Fault:
        """An HTML error page (what proxies, gateways and captive portals send)."""
        return cls.respond(status, html_page(title), content_type="text/html; charset=utf-8", headers=headers, path=path)

    @classmethod
    def rate_limited(
        cls, *, retry_after: str | None = None, body: Any = None, path: str | None = None
    ) -> Fault:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        payload = body if body is not None else {"error": {"message": "Too many requests", "code": 429}}
        return cls.json(429, payload, headers=headers, path=path)

    @classmethod
    def reset(cls, *, path: str | None = None) -> Fault:
        return cls("reset", path=path)

    @classmethod
    def reset_after(cls, chunks: int, *, path: str | None = None) -> Fault:
        return cls("reset_after", after=chunks, path=path)

    @classmethod
    def stall(cls, seconds: float, *, after: int = 0, path: str | None = None) -> Fault:
        return cls("stall", after=after, seconds=seconds, path=path)

    @classmethod
    def trickle(cls, interval: float, *, after: int = 0, max_seconds: float = 5.0, path: str | None = None) -> Fault:
        return cls("trickle", after=after, interval=interval, seconds=max_seconds, path=path)

    @classmethod
    def malformed(cls, *, after: int = 0, payload: bytes | None = None, path: str | None = None) -> Fault:
        return cls("malformed", after=after, payload=payload, path=path)

    @classmethod
    def delay(cls, seconds: float, *, path: str | None = None) -> Fault:
        return cls("delay", seconds=seconds, path=path)

    # --- JSON form, for the control endpoint

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["body"] = self.body.decode("utf-8", "replace")
        data["payload"] = None if self.payload is None else self.payload.decode("utf-8", "replace")
        data["headers"] = dict(self.headers)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("body", "payload"):
            if isinstance(values.get(key), str):
                values[key] = values[key].encode("utf-8")
        return cls(**values)


# ---------------------------------------------------------------------------------------------
# Request log


class Headers(dict):
    """A plain dict of request headers with case-insensitive access (keys stored lower-case)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: Headers
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query,
                "headers": dict(self.headers), "body": self.text}
