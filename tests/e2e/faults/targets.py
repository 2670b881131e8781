"""One fake server per provider kind, set up the same way, so every fault runs against every kind.

A `Target` is a started fake (HTTPS, issued by the test CA), the config.toml that points llmcli at
it with short limits, the environment holding its credentials, and what the user should see after
N content frames of its stream. The local provider kind has no server and no network, so network
faults do not apply to it (it is covered by tests/e2e/test_local_e2e.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.helpers import run, write_config
from tests.fakes.base import FakeHandler, FakeServer
from tests.fakes.gigachat_server import (
    API_PREFIX,
    OAUTH_PATH,
    TEST_AUTHORIZATION_KEY,
    GigaChatHandler,
    GigaChatState,
)
from tests.fakes.openai_server import OpenAIHandler, OpenAIState, split_reply
from tests.fakes.tls import session_ca
from tests.fakes.yandex_server import COMPLETION, IAM, YandexHandler, YandexState, cumulative_texts

# Twelve words: 12 deltas on OpenAI, 12 cumulative lines on Yandex, ~10 deltas on GigaChat.
REPLY = " ".join(f"w{i}" for i in range(1, 13))
CONTENT_FRAMES = 12

OPENAI_KEY = "sk-faults-4a7c1e9b2d"
YANDEX_OAUTH = "y0_faults-oauth-token"
FOLDER = "b1gfakefolder"

# Limits every fault run uses unless a case says otherwise (config keys of DESIGN.md §4).
LIMITS = {"timeout": 2.5, "connect_timeout": 1.0, "deadline": 8.0}


# --- a gate: hold chat requests until N have arrived, then let them all through at once -------


class Gate:
    """Makes "N processes at once" literal on a 2-core box, where start-up would spread them out."""

    def __init__(self, expected: int, max_wait: float = 120.0) -> None:
        self.expected = expected
        self.max_wait = max_wait
        self.arrived = 0
        self._lock = threading.Lock()
        self._open = threading.Event()

    def wait(self) -> None:
        with self._lock:
            self.arrived += 1
            if self.arrived >= self.expected:
                self._open.set()
        self._open.wait(self.max_wait)  # bounded: a process that never came must not hang the rest


def _test_handler(handler: type[FakeHandler], chat_path: str) -> type[FakeHandler]:
    """The vendor's handler, plus the gate, plus a reset that lets what was written arrive first."""

    class TestHandler(handler):  # type: ignore[misc, valid-type]
        def handle_request(self, request):  # type: ignore[no-untyped-def]
            gate = getattr(self.fake, "gate", None)
            if gate is not None and request.path.endswith(chat_path):
                gate.wait()
            super().handle_request(request)

        def write_frame(self, data: bytes) -> None:
            pace = getattr(self.fake, "pace", 0.0)  # seconds between frames: a reply that takes a while
            if pace and self._frames_written:
                self.fake.wait(pace)
            super().write_frame(data)

        def reset_connection(self) -> None:
            # SO_LINGER 0 discards whatever still sits in the send queue (seen with TLS on loopback):
            # "reset after 5 chunks" must mean the client got those 5 chunks, then the reset.
            if self._frames_written:
                self.fake.wait(0.2)
            super().reset_connection()

    TestHandler.__name__ = "Test" + handler.__name__
    return TestHandler


# --- targets -------------------------------------------------------------------------------------


@dataclass
class Target:
    kind: str
    name: str  # the provider name in config.toml
    server: FakeServer
    home: Path
    env: dict[str, str]
    chat_path: str
    content_offset: int  # stream frames before the first content frame
    max_retries: int  # retries of the adapter's policy (requests = max_retries + 1)
    exe: str  # the installed llmcli
    _config: Callable[[dict[str, Any]], str] = field(repr=False, default=lambda _: "")

    @property
    def state(self) -> Any:
        return self.server.state

    def config_text(self, **overrides: Any) -> str:
        return self._config({**LIMITS, **overrides})

    def write_config(self, extra: str = "", **overrides: Any) -> Path:
        return write_config(self.home, self.config_text(**overrides) + extra)

    def ask(self, *args: str, stdin: bytes | str = b"", env: dict[str, str] | None = None, timeout: float = 60):
        return run(self.exe, ["ask", *args], env or self.env, stdin=stdin, timeout=timeout)

    def chat_requests(self) -> list:
        return [r for r in self.server.requests if r.path.endswith(self.chat_path)]

    def printed_after(self, frames: int) -> str:
        """What stdout holds once `frames` content frames have arrived."""
        if frames <= 0:
            return ""
        if self.kind == "openai":
            return "".join(split_reply(REPLY, None)[:frames])
        if self.kind == "gigachat":
            return "".join(_gigachat_pieces(REPLY, self.state.deltas)[:frames])
        return cumulative_texts(REPLY, CONTENT_FRAMES)[frames - 1]

    def after_content(self, frames: int) -> int:
        """The fault `after` value that lets exactly `frames` content frames through."""
        return self.content_offset + frames

    def expire_token(self) -> None:
        """Make the token llmcli cached stale on the server side (it still looks valid to llmcli)."""
        if self.kind == "gigachat":
            self.state.expire_tokens()
        elif self.kind == "yandexgpt":
            with self.state.lock:
                self.state.issued.clear()
        else:
            raise AssertionError("an OpenAI-compatible key does not expire on a schedule")

    def token_exchanges(self) -> int:
        if self.kind == "gigachat":
            return self.state.oauth_calls
        if self.kind == "yandexgpt":
            return self.state.iam_exchanges
        return 0


def _gigachat_pieces(text: str, deltas: int) -> list[str]:
    size = max(1, -(-len(text) // max(deltas, 1)))  # as the fake cuts it
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _limits(values: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{key} = " + (f'"{value}"' if isinstance(value, str) else
                                     ("true" if value is True else "false" if value is False else f"{value}")))
    return lines


def _openai_config(url: str) -> Callable[[dict[str, Any]], str]:
    def config(values: dict[str, Any]) -> str:
        values = {"base_url": url + "/v1", "model": "gpt-fake", "ca_bundle": session_ca().ca_pem_path, **values}
        return "\n".join(['default_provider = "fake"', "[providers.fake]", 'kind = "openai"',
                          *_limits(values)]) + "\n"
    return config


def _gigachat_config(url: str) -> Callable[[dict[str, Any]], str]:
    def config(values: dict[str, Any]) -> str:
        values = {"base_url": url + API_PREFIX, "auth_url": url + OAUTH_PATH, "scope": "GIGACHAT_API_PERS",
                  "model": "GigaChat-2", "ca_bundle": session_ca().ca_pem_path, **values}
        return "\n".join(['default_provider = "gigachat"', "[providers.gigachat]", *_limits(values)]) + "\n"
    return config


def _yandex_config(url: str) -> Callable[[dict[str, Any]], str]:
    def config(values: dict[str, Any]) -> str:
        values = {"base_url": url, "iam_url": url + IAM, "folder_id": FOLDER, "model": "yandexgpt-lite",
                  "ca_bundle": session_ca().ca_pem_path, **values}
        return "\n".join(['default_provider = "yandexgpt"', "[providers.yandexgpt]", *_limits(values)]) + "\n"
    return config


def start_server(kind: str, *, gate: int = 0, pace: float = 0.0, **state: Any) -> FakeServer:
    """A started HTTPS fake of `kind` answering REPLY (state fields may override); `gate`: hold the
    first chat requests until that many have arrived; `pace`: seconds between stream frames."""
    if kind == "openai":
        handler, chat = OpenAIHandler, "/chat/completions"
        values = OpenAIState(**{"api_key": OPENAI_KEY, "reply": REPLY, **state})
    elif kind == "gigachat":
        handler, chat = GigaChatHandler, API_PREFIX + "/chat/completions"
        values = GigaChatState(**{"reply": REPLY, "deltas": CONTENT_FRAMES, **state})
    elif kind == "yandexgpt":
        handler, chat = YandexHandler, COMPLETION
        values = YandexState(**{"reply": REPLY, "chunks": CONTENT_FRAMES,
                                "oauth_tokens": {YANDEX_OAUTH}, **state})
    else:
        raise ValueError(kind)
    server = FakeServer(_test_handler(handler, chat), tls=session_ca(), state=values)
    server.gate = Gate(gate) if gate else None  # type: ignore[attr-defined]
    server.pace = pace  # type: ignore[attr-defined]
    return server.start()


SECRET_ENV_PREFIXES = ("LLMCLI_", "GIGACHAT_", "YC_", "OPENAI_")


def base_env(home: Path) -> dict[str, str]:
    """What tests/conftest.py's e2e_env gives one test, for a run that owns its own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_ENV_PREFIXES)}
    env.update(LLMCLI_HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
               NO_PROXY="127.0.0.1,localhost", PYTHONIOENCODING="utf-8")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(var, None)
    return env


def make_target(kind: str, server: FakeServer, home: Path, base_env: dict[str, str], exe: str) -> Target:
    if kind == "openai":
        return Target(kind, "fake", server, home, dict(base_env, LLMCLI_FAKE_API_KEY=OPENAI_KEY),
                      "/v1/chat/completions", content_offset=2, max_retries=3,
                      exe=exe, _config=_openai_config(server.url))
    if kind == "gigachat":
        return Target(kind, "gigachat", server, home, dict(base_env, GIGACHAT_CREDENTIALS=TEST_AUTHORIZATION_KEY),
                      API_PREFIX + "/chat/completions", content_offset=0, max_retries=3,
                      exe=exe, _config=_gigachat_config(server.url))
    return Target(kind, "yandexgpt", server, home, dict(base_env, YC_OAUTH_TOKEN=YANDEX_OAUTH),
                  COMPLETION, content_offset=0, max_retries=3, exe=exe, _config=_yandex_config(server.url))
