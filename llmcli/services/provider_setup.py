"""`providers setup`: what each kind of provider needs, and where each answer is kept.

The command asks the questions (it owns the terminal); this module decides the questions and stores
the answers: the secret in the OS keyring (credentials.store_secret), other values in config.toml for
built-in and configured providers, or in the database for providers added with `providers add`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmcli.defaults import BUILTIN_PROVIDERS, KINDS
from llmcli.errors import UsageError
from llmcli.services import providers as registry

if TYPE_CHECKING:
    from llmcli.config import ProviderConfig, Settings

SECRET = "secret"  # the field that holds the provider's primary secret


@dataclass(frozen=True)
class SetupField:
    key: str  # a provider option (base_url, model, scope, folder_id, ca_bundle) or SECRET
    prompt: str
    default: str = ""
    required: bool = False
    secret: bool = False


@dataclass
class SetupPlan:
    name: str
    kind: str
    origin: str  # built-in | config | database | new
    fields: list[SetupField] = field(default_factory=list)
    has_secret: bool = False  # a key is already available (env, keyring or file)


def setup_plan(settings: Settings, name: str, kind: str | None = None) -> SetupPlan:
    """The questions for `name`; `kind` is needed (and only used) for a provider that does not exist yet."""
    from llmcli.services import credentials

    config = _existing_config(settings, name)
    if config is None:
        if kind is None:
            return SetupPlan(name, "", "new")  # the caller asks for the kind first
        if kind not in KINDS:
            raise UsageError(f"unknown provider kind {kind!r}", hint="kinds: " + ", ".join(KINDS))
        origin, current = "new", {}
    else:
        kind = config.kind or ""
        origin = registry.provider_origin(settings, name)
        current = config.model_dump(exclude_none=True)
    defaults = dict(BUILTIN_PROVIDERS.get(kind, {}))
    defaults.update(current)
    has_secret = (config is not None and config.needs_key
                  and credentials.credential_source(name, kind) != "none")
    plan = SetupPlan(name, kind, origin, has_secret=has_secret)

    def ask(key: str, prompt: str, *, required: bool = False) -> None:
        plan.fields.append(SetupField(key, prompt, str(defaults.get(key) or ""), required))

    keep = " (empty: keep the stored one)" if has_secret else ""
    if kind == "openai":
        ask("base_url", "Base URL of the OpenAI-compatible API (…/v1)", required=True)
        optional = "" if has_secret or name == "openai" else " (empty if the endpoint needs none)"
        plan.fields.append(SetupField(SECRET, "API key" + (keep or optional), secret=True))
        ask("model", "Default model", required=True)
    elif kind == "gigachat":
        plan.fields.append(SetupField(SECRET, "Authorization key (base64 of client_id:client_secret)" + keep,
                                      required=not has_secret, secret=True))
        ask("scope", "Scope (GIGACHAT_API_PERS, GIGACHAT_API_B2B or GIGACHAT_API_CORP)", required=True)
        ask("ca_bundle", "Path to the Russian Trusted Root CA PEM (empty: the system trust store)")
        ask("model", "Default model", required=True)
    elif kind == "yandexgpt":
        plan.fields.append(SetupField(SECRET, "API key" + keep, required=not has_secret, secret=True))
        ask("folder_id", "Folder id (b1g…)", required=True)
        ask("model", "Default model", required=True)
    else:  # local: no key, no endpoint
        ask("model", "Model (a bundled name or a .gguf file)", required=True)
    return plan


def apply_setup(settings: Settings, plan: SetupPlan, answers: dict[str, str], *,
                insecure_storage: bool = False) -> list[str]:
    """Store the answers; returns what was done, one line each (never a secret)."""
    from llmcli.config import config_set
    from llmcli.services import credentials

    done: list[str] = []
    secret = answers.get(SECRET, "").strip()
    options = {k: v.strip() for k, v in answers.items() if k != SECRET and v is not None and v.strip()}
    no_key = plan.kind == "local" or (plan.kind == "openai" and not secret and not plan.has_secret
                                      and plan.name != "openai")
    if secret:  # first: without a keyring this fails before anything else has changed
        where = credentials.store_secret(plan.name, secret, insecure=insecure_storage)
        done.append(f"stored the key for {plan.name} " +
                    ("in the OS keyring" if where == "keyring" else f"in plain text at {where}"))
        resolved = credentials.resolve_secrets(plan.name, plan.kind)
        if resolved.source == "env":
            done.append(f"note: a key in the environment still wins over the stored one "
                        f"(unset {resolved.detail} to use it)")
    if plan.origin in ("new", "database"):
        stored = registry.stored_providers().get(plan.name, {})
        merged = {**(stored.get("options") or {}), **options}
        base_url = merged.pop("base_url", stored.get("base_url"))
        model = merged.pop("model", stored.get("model"))
        merged.pop(registry.NO_AUTH_OPTION[0], None)
        registry.add_provider(settings, plan.name, plan.kind, base_url=base_url, model=model,
                              options=merged, needs_key=not no_key)
        done.append(f"saved {plan.name} ({plan.kind}) in the database")
    else:
        current = {f.key: f.default for f in plan.fields}
        for key, value in options.items():
            if value != current.get(key):
                path = config_set(f"providers.{plan.name}.{key}", value)
                done.append(f"set providers.{plan.name}.{key} in {path}")
        if no_key and plan.kind == "openai":
            config_set(f"providers.{plan.name}.needs_key", "false")
            done.append(f"marked {plan.name} as needing no key")
    return done


def _existing_config(settings: Settings, name: str) -> ProviderConfig | None:
    try:
        return registry.find_provider_config(settings, name)
    except UsageError:
        return None
