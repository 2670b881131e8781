"""Roles: named presets (system prompt, provider, model, temperature, max_tokens) for `ask/chat -r NAME`.

Built-in roles ship with llmcli; `[roles.NAME]` tables in config.toml add roles or override built-in
ones field by field (a config role that sets only `model` keeps the built-in system prompt). A role's
fields are defaults: flags (-s, -p, -m, -t, --max-tokens) override them.

A system prompt containing `{input}` is a template: `{input}` is replaced by the piped stdin and the
`-f` files (or, with neither, by the PROMPT words). The PROMPT words are then the user message; with no
words left, the filled-in template itself is sent as the user message, without a system prompt.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcli.errors import UsageError

if TYPE_CHECKING:
    from llmcli.config import Settings
    from llmcli.services.chat import TurnRequest

INPUT_PLACEHOLDER = "{input}"
ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
ROLE_FIELDS = ("system", "provider", "model", "temperature", "max_tokens", "description")
BUILTIN, CONFIG = "built-in", "config"


@dataclass(frozen=True)
class Role:
    name: str
    system: str | None = None
    provider: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    description: str | None = None
    source: str = BUILTIN  # built-in | config
    overrides_builtin: bool = False  # a config role that changes a built-in one

    @property
    def takes_input(self) -> bool:
        return INPUT_PLACEHOLDER in (self.system or "")

    def to_json(self) -> dict[str, Any]:
        data = {field: getattr(self, field) for field in ("name", *ROLE_FIELDS, "source")}
        data["overrides_builtin"] = self.overrides_builtin
        return data


BUILTIN_ROLES: dict[str, Role] = {role.name: role for role in (
    Role("commit", description="a git commit message from a diff (git diff | llmcli ask -r commit)", system=(
        "You write git commit messages. From the diff you are given, write one commit message: a subject "
        "line in the imperative mood (\"Add\", \"Fix\", not \"Added\") of at most 72 characters without a "
        "trailing period, then a blank line, then a short body wrapped at 72 columns that says what changed "
        "and why. Output only the commit message: no preamble, no quotes, no code fences.")),
    Role("shell", description="exactly one POSIX shell command for a task, nothing else", temperature=0.2,
         system=(
        "You turn a request into exactly one POSIX shell command. Output only the command on a single line: "
        "no explanation, no prose, no Markdown, no code fences. If several steps are needed, join them with "
        "pipes or &&. Prefer portable options that work on both GNU and BSD systems.")),
    Role("ru-en", description="translate Russian into English", system=(
        "Translate the text you are given from Russian into English. Keep the meaning, tone and formatting "
        "(Markdown, line breaks, lists); leave code, identifiers, URLs and names of commands as they are. "
        "Output only the translation.")),
    Role("en-ru", description="translate English into Russian", system=(
        "Translate the text you are given from English into Russian. Keep the meaning, tone and formatting "
        "(Markdown, line breaks, lists); leave code, identifiers, URLs and names of commands as they are. "
        "Output only the translation.")),
    Role("review", description="a code review of a diff (git diff | llmcli ask -r review)", system=(
        "You are a careful senior engineer reviewing a diff. List real problems first, most serious first: "
        "bugs, security issues, data loss, race conditions, missing error handling, then unclear names and "
        "missing tests. For each, name the file and line and propose a concrete fix. Do not restate the "
        "diff. If it looks correct, say so in one sentence.")),
)}


# --- looking roles up ------------------------------------------------------------------------------


def list_roles(settings: Settings) -> list[Role]:
    """Built-in and config roles, sorted by name; a config role replaces the built-in of its name."""
    return [get_role(settings, name) for name in sorted(set(BUILTIN_ROLES) | set(settings.roles))]


def get_role(settings: Settings, name: str) -> Role:
    """The role `name` (config fields over built-in ones); UsageError with a suggestion if unknown."""
    builtin = BUILTIN_ROLES.get(name)
    configured = settings.roles.get(name)
    if configured is None:
        if builtin is None:
            raise _unknown_role(settings, name)
        return builtin
    fields = configured.model_dump(exclude_unset=True)
    base = builtin or Role(name)
    return replace(base, **{k: v for k, v in fields.items() if k in ROLE_FIELDS}, source=CONFIG,
                   overrides_builtin=builtin is not None)


def _unknown_role(settings: Settings, name: str) -> UsageError:
    names = sorted(set(BUILTIN_ROLES) | set(settings.roles))
    close = difflib.get_close_matches(name, names, n=1)
    return UsageError(f"unknown role {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                      hint="known roles: " + ", ".join(names) + "; add one with `llmcli roles add NAME -s PROMPT`")


# --- applying a role to a turn ---------------------------------------------------------------------


def join_prompt(words: str | None, inputs: Sequence[str]) -> str:
    """PROMPT words, then each input (files, stdin) after a blank line (DESIGN.md §7)."""
    parts = [words] if words is not None else []
    parts += [text for text in inputs if text]
    text = "\n\n".join(parts)
    if not text.strip():
        raise UsageError("empty prompt: pass text as an argument or on stdin",
                         hint='llmcli ask "your question"   or   echo text | llmcli ask')
    return text


def role_prompt(role: Role | None, words: str | None, inputs: Sequence[str], *,
                system: str | None = None) -> tuple[str, str | None]:
    """(user message, system prompt) for a turn. `system` is the -s flag, which beats the role's.

    A system of None means "the configured default"; "" means none at all."""
    if system is not None or role is None or role.system is None:
        return join_prompt(words, inputs), system
    if not role.takes_input:
        return join_prompt(words, inputs), role.system
    filled = "\n\n".join(text for text in inputs if text)
    if not filled.strip():
        filled, words = words or "", None  # no stdin and no files: the words are the input
    if not filled.strip() and not (words or "").strip():
        raise UsageError(f"role {role.name!r} needs input: pipe text in, attach a file with -f, or pass words",
                         hint=f"echo text | llmcli ask -r {role.name}")
    template = role.system.replace(INPUT_PLACEHOLDER, filled)
    if words is not None and words.strip():
        return words, template
    return template, ""  # the filled-in template is the message; no system prompt besides it


def apply_role(request: TurnRequest, role: Role, *, own_provider_only: bool = False) -> TurnRequest:
    """Fill the request's unset generation settings from the role (flags win)."""
    return replace(request, **role_defaults(role, provider=request.provider, model=request.model,
                                            temperature=request.temperature, max_tokens=request.max_tokens,
                                            own_provider_only=own_provider_only))


def role_defaults(role: Role, *, provider: str | None, model: str | None, temperature: float | None,
                  max_tokens: int | None, own_provider_only: bool = False) -> dict[str, Any]:
    """provider, model, temperature and max_tokens: the given (flag) values, else the role's.

    The role's model goes with the role's provider: `-p other` drops it, so `-r x -p gigachat` never
    asks GigaChat for an OpenAI model name. A role without a provider lends its model to whichever
    provider is used, unless `own_provider_only` (lists of providers: compare, fallback)."""
    chosen = provider or role.provider
    matches = role.provider == chosen if own_provider_only else role.provider in (None, chosen)
    return {
        "provider": chosen,
        "model": model if model is not None or not matches else role.model,
        "temperature": temperature if temperature is not None else role.temperature,
        "max_tokens": max_tokens if max_tokens is not None else role.max_tokens,
    }


def chat_opening(role: Role | None, inputs: Sequence[str], *, system: str | None) -> tuple[str | None, str | None]:
    """(first message or None, system prompt) for `chat -r NAME -f FILE`.

    Piped stdin and files make the first message, as `ask` would build it with no words. Without them
    a template role's `{input}` is simply dropped: each message typed later is the input."""
    if any(text for text in inputs):
        return role_prompt(role, None, inputs, system=system)
    if system is not None or role is None or role.system is None:
        return None, system
    return None, role.system.replace(INPUT_PLACEHOLDER, "").strip() if role.takes_input else role.system


# --- editing [roles.NAME] in config.toml -------------------------------------------------------------


def add_role(settings: Settings, name: str, *, replace_existing: bool = False, **fields: Any) -> Path:
    """Write `[roles.NAME]` (validated, atomic, 0600). Existing config roles need `replace_existing`."""
    from llmcli.services.providers import find_provider_config

    check_role_name(name)
    values = {k: v for k, v in fields.items() if v is not None}
    unknown = sorted(set(values) - set(ROLE_FIELDS))
    if unknown:
        raise UsageError(f"unknown role field(s): {', '.join(unknown)}")
    if not values:
        raise UsageError(f"role {name!r} would be empty", hint="give at least a system prompt: -s TEXT")
    if name in settings.roles and not replace_existing:
        raise UsageError(f"role {name!r} already exists in the config file",
                         hint=f"replace it with `llmcli roles add {name} --force …`, or remove it first")
    if values.get("provider"):
        find_provider_config(settings, values["provider"])  # unknown provider: UsageError with a suggestion
    return _edit_roles(lambda roles: roles.__setitem__(name, _role_table(values)), changed=["roles", name])


def remove_role(settings: Settings, name: str) -> tuple[Path, bool]:
    """Delete `[roles.NAME]` from config.toml. Returns (config path, whether a built-in role remains)."""
    if name not in settings.roles:
        if name in BUILTIN_ROLES:
            raise UsageError(f"{name!r} is a built-in role and cannot be removed",
                             hint=f"override it instead: llmcli roles add {name} -s PROMPT")
        raise _unknown_role(settings, name)
    path = _edit_roles(lambda roles: roles.pop(name, None), changed=["roles"])
    return path, name in BUILTIN_ROLES


def check_role_name(name: str) -> None:
    if not ROLE_NAME.match(name):
        raise UsageError(f"invalid role name {name!r}: use letters, digits, '-' and '_' (starting with a "
                         "letter or digit)")


def _role_table(values: dict[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for key in ROLE_FIELDS:
        if key in values:
            value = values[key]
            # a multi-line prompt stays readable in the file
            table[key] = tomlkit.string(value, multiline=True) if isinstance(value, str) and "\n" in value else value
    return table


def _edit_roles(change: Any, *, changed: list[str]) -> Path:
    import tomlkit

    from llmcli.config.editing import edit_document

    def on_roles(document: Any) -> None:
        if "roles" not in document:
            document["roles"] = tomlkit.table(is_super_table=True)
        change(document["roles"])
        if not document["roles"]:
            del document["roles"]

    return edit_document(on_roles, changed=changed)
