"""`-p gigachat,yandexgpt:yandexgpt-pro` and `--fallback a,b`: comma-separated providers, each with an
optional `:MODEL` (split at the first colon — provider names never contain one, model ids may)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from llmcli.errors import UsageError

if TYPE_CHECKING:
    from llmcli.services.chat import TurnRequest
    from llmcli.services.roles import Role


@dataclass(frozen=True)
class Target:
    provider: str
    model: str | None = None

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}" if self.model else self.provider


def parse_targets(text: str, *, option: str = "-p") -> list[Target]:
    """Comma-separated `NAME[:MODEL]` items; empty items and exact repeats are usage errors."""
    targets: list[Target] = []
    for item in text.split(","):
        name, _, model = item.strip().partition(":")
        name, model = name.strip(), model.strip()
        if not name or (":" in item and not model):
            raise UsageError(f"bad {option} value {text!r}: expected NAME[:MODEL][,NAME[:MODEL]...]",
                             hint=f"e.g. {option} gigachat,yandexgpt or {option} openai:gpt-4o,openai:gpt-4o-mini")
        target = Target(name, model or None)
        if target in targets:
            raise UsageError(f"{option} names {target} twice")
        targets.append(target)
    return targets


def request_for(request: TurnRequest, target: Target, role: Role | None = None) -> TurnRequest:
    """The request sent to one provider of a list (compare, fallback).

    The role's temperature and max_tokens apply as usual; its model only for the role's own provider
    (one model name means nothing to another vendor)."""
    from llmcli.services.roles import apply_role

    aimed = replace(request, provider=target.provider, model=target.model)
    return apply_role(aimed, role, own_provider_only=True) if role is not None else aimed
