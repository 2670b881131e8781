"""Built-in providers and the names of their secrets (stdlib only, cheap to import).

Kept apart from config.py so that --help and shell completion can list provider names
without importing pydantic-settings.
"""

from __future__ import annotations

DEFAULT_PROVIDER = "openai"

# name -> non-secret settings; "kind" selects the adapter (see llmcli.providers.ADAPTERS).
BUILTIN_PROVIDERS: dict[str, dict[str, object]] = {
    "openai": {
        "kind": "openai",
        "base_url": "https://api.openai.com/v1",
        "model": "gpt-4o-mini",
    },
    "ollama": {
        "kind": "openai",
        "base_url": "http://localhost:11434/v1",
        "model": "llama3.2",
        "needs_key": False,
    },
    "gigachat": {
        "kind": "gigachat",
        "base_url": "https://gigachat.devices.sberbank.ru/api/v1",
        "auth_url": "https://ngw.devices.sberbank.ru:9443/api/v2/oauth",
        "scope": "GIGACHAT_API_PERS",
        "model": "GigaChat-2",
    },
    "yandexgpt": {
        "kind": "yandexgpt",
        "base_url": "https://llm.api.cloud.yandex.net",
        "iam_url": "https://iam.api.cloud.yandex.net/iam/v1/tokens",
        "model": "yandexgpt-lite",
    },
    "local": {
        "kind": "local",
        "base_url": "",
        "model": "gemma3-270m",
        "needs_key": False,
    },
}

KINDS = ("openai", "gigachat", "yandexgpt", "local")

# Secrets each kind understands: secret name -> vendor env variables, in order of preference.
# Every provider also reads LLMCLI_<NAME>_API_KEY as its primary secret (the first name listed).
KIND_SECRETS: dict[str, dict[str, tuple[str, ...]]] = {
    "openai": {"api_key": ()},
    "gigachat": {
        "credentials": ("GIGACHAT_CREDENTIALS",),
        "access_token": ("GIGACHAT_ACCESS_TOKEN",),
        "user": ("GIGACHAT_USER",),
        "password": ("GIGACHAT_PASSWORD",),
    },
    "yandexgpt": {
        "api_key": ("YC_API_KEY",),
        "iam_token": ("YC_IAM_TOKEN",),
        "oauth_token": ("YC_OAUTH_TOKEN",),
    },
    "local": {},
}

# Vendor variables that belong to one built-in provider name only.
PROVIDER_SECRET_ENV: dict[str, dict[str, tuple[str, ...]]] = {
    "openai": {"api_key": ("OPENAI_API_KEY",)},
}

# Non-secret settings that come from vendor env variables.
PROVIDER_OPTION_ENV: dict[str, dict[str, str]] = {
    "yandexgpt": {"folder_id": "YC_FOLDER_ID"},
}


def provider_env_prefix(name: str) -> str:
    """LLMCLI_<NAME>_ for a provider name (upper-cased, '-' and '.' become '_')."""
    return "LLMCLI_" + name.upper().replace("-", "_").replace(".", "_") + "_"
