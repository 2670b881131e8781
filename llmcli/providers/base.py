"""The provider interface: what every adapter implements and what it is handed.

Adapters get plain values (ProviderSpec), never typer, rich, storage or settings objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Protocol, Sequence

from llmcli.types import ChatOptions, Chunk, Message, ModelInfo, Secret


class TokenStore(Protocol):
    """Where short-lived tokens (GigaChat access token, Yandex IAM token) are kept between runs.

    Implemented by services.credentials (keyring, else a 0600 file). `expires_at` is epoch seconds.
    """

    def load(self, key: str) -> tuple[str, float] | None: ...

    def save(self, key: str, token: str, expires_at: float) -> None: ...

    def clear(self, key: str) -> None: ...


class MemoryTokenStore:
    """A TokenStore that lives only as long as the process (the default, and for tests)."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    def load(self, key: str) -> tuple[str, float] | None:
        return self._tokens.get(key)

    def save(self, key: str, token: str, expires_at: float) -> None:
        self._tokens[key] = (token, expires_at)

    def clear(self, key: str) -> None:
        self._tokens.pop(key, None)


@dataclass(frozen=True)
class ProviderSpec:
    """Everything an adapter needs, as plain values."""

    name: str
    kind: str
    base_url: str
    model: str | None = None
    # secret name -> value; names per kind are in llmcli.defaults.KIND_SECRETS
    secrets: Mapping[str, Secret] = field(default_factory=dict)
    timeout: float = 120.0  # read timeout: the longest silence between two bytes
    connect_timeout: float = 10.0
    deadline: float = 600.0  # the whole request, first byte to last
    ca_bundle: str | None = None  # a PEM file added to the default trust store
    verify: bool = True
    # kind-specific non-secret options: scope, auth_url (gigachat); folder_id, iam_url (yandexgpt); ...
    options: Mapping[str, Any] = field(default_factory=dict)
    token_store: TokenStore = field(default_factory=MemoryTokenStore)

    def secret(self, name: str) -> str | None:
        value = self.secrets.get(name)
        return value.reveal() if value else None


class Provider(Protocol):
    name: str

    def list_models(self) -> list[ModelInfo]: ...

    def stream_chat(
        self, model: str, messages: Sequence[Message], options: ChatOptions
    ) -> Iterator[Chunk]: ...

    def close(self) -> None: ...
