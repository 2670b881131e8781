"""YandexGPT wire format, as pure functions: model URIs, the request body, the cumulative stream
turned into deltas, usage, and the grpc-gateway error body with hints.

No I/O here, so every quirk can be tested on plain dicts (protocols.md §2.3–2.6, §2.10).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from llmcli.errors import ConfigError, ProviderError, ProviderUnavailable, RateLimited, UsageError
from llmcli.providers.usage_counts import token_count
from llmcli.types import ChatOptions, Chunk, Message, ModelInfo, Usage

log = logging.getLogger("llmcli")

# The native-API models and their context windows (docs table); used when /v1/models is unreachable.
CATALOGUE: dict[str, int] = {
    "yandexgpt": 32768,
    "yandexgpt-lite": 32768,
    "llama": 8192,
    "llama-lite": 8192,
}

URI_SCHEME = "gpt://"

FINISH_REASONS = {
    "ALTERNATIVE_STATUS_FINAL": "stop",
    "ALTERNATIVE_STATUS_TRUNCATED_FINAL": "length",
    "ALTERNATIVE_STATUS_CONTENT_FILTER": "content_filter",
    "ALTERNATIVE_STATUS_TOOL_CALLS": "tool_calls",
}
PARTIAL = "ALTERNATIVE_STATUS_PARTIAL"
CONTENT_FILTER = "ALTERNATIVE_STATUS_CONTENT_FILTER"

REASONING_MODES = {
    "on": "ENABLED_HIDDEN", "true": "ENABLED_HIDDEN", "yes": "ENABLED_HIDDEN", "1": "ENABLED_HIDDEN",
    "off": "DISABLED", "false": "DISABLED", "no": "DISABLED", "0": "DISABLED",
}

FOLDER_HINT = (
    "export YC_FOLDER_ID=b1g… or run `llmcli config set providers.yandexgpt.folder_id b1g…` "
    "(the folder id is shown in the Yandex Cloud console, at the top of the folder page "
    "and in the folder's drop-down menu: Copy ID)"
)


# --- model names and URIs -------------------------------------------------------------------------


def model_uri(model: str, folder_id: str | None) -> str:
    """`yandexgpt-lite` → gpt://<folder>/yandexgpt-lite/latest; `yandexgpt/rc` → …/yandexgpt/rc;
    a full gpt:// URI passes through unchanged."""
    model = model.strip()
    if model.startswith(URI_SCHEME):
        return model
    if not model or model.startswith("/") or "://" in model:
        raise UsageError(
            f"not a YandexGPT model name: {model!r}",
            hint="use a short name such as yandexgpt-lite or yandexgpt/rc, or a full gpt:// URI",
        )
    if not folder_id:
        raise missing_folder_error()
    name = model if "/" in model else f"{model}/latest"
    return f"{URI_SCHEME}{folder_id}/{name}"


def folder_from_uri(model: str) -> str | None:
    """The folder id inside a full gpt://<folder>/<model>/<branch> URI, else None."""
    if not model.startswith(URI_SCHEME):
        return None
    folder = model[len(URI_SCHEME):].split("/", 1)[0]
    return folder or None


def short_model_name(uri: str) -> str:
    """gpt://<folder>/yandexgpt-lite/latest → yandexgpt-lite; …/yandexgpt/rc → yandexgpt/rc."""
    path = uri
    if uri.startswith(URI_SCHEME):
        path = uri[len(URI_SCHEME):].partition("/")[2] or uri
    return path.removesuffix("/latest")


def missing_folder_error() -> ConfigError:
    return ConfigError("YandexGPT needs a folder id, and none is configured", hint=FOLDER_HINT)


# owned_by of catalogue entries, so callers can tell "the server listed these" from "we know these"
CATALOGUE_OWNER = "built-in catalogue"


def catalogue_models(provider: str) -> list[ModelInfo]:
    return [
        ModelInfo(id=name, provider=provider, type="chat", context_window=window, owned_by=CATALOGUE_OWNER)
        for name, window in CATALOGUE.items()
    ]


def models_from_listing(body: Any, provider: str) -> list[ModelInfo]:
    """The chat models (gpt:// ids) of a /v1/models reply, by short name."""
    entries = body.get("data") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ProviderUnavailable("the model list from YandexGPT is not a list", provider=provider)
    models: list[ModelInfo] = []
    for entry in entries:
        model_id = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(model_id, str) or not model_id.startswith(URI_SCHEME):
            continue  # emb://, art://, ... are not chat models
        name = short_model_name(model_id)
        base = name.split("/", 1)[0]
        models.append(
            ModelInfo(id=name, provider=provider, type="chat",
                      context_window=CATALOGUE.get(base), owned_by=entry.get("owned_by"))
        )
    return models


# --- the request ----------------------------------------------------------------------------------


def reasoning_mode(extra: Mapping[str, Any]) -> str | None:
    """`-o reasoning=on|off` → the reasoningOptions.mode value; anything else is a usage error."""
    if "reasoning" not in extra:
        return None
    value = str(extra["reasoning"]).strip().lower()
    if value not in REASONING_MODES:
        raise UsageError(
            f"reasoning must be on or off, not {extra['reasoning']!r}",
            hint="e.g. llmcli ask -p yandexgpt -o reasoning=on …",
        )
    return REASONING_MODES[value]


def completion_body(uri: str, messages: Sequence[Message], options: ChatOptions) -> dict[str, Any]:
    completion: dict[str, Any] = {"stream": options.stream}
    if options.temperature is not None:
        completion["temperature"] = options.temperature
    if options.max_tokens is not None:
        completion["maxTokens"] = str(options.max_tokens)  # int64 is a string in proto-JSON
    mode = reasoning_mode(options.extra)
    if mode:
        completion["reasoningOptions"] = {"mode": mode}
    ignored = sorted(k for k in options.extra if k != "reasoning")
    if options.top_p is not None:
        ignored.append("top_p")
    if ignored:
        log.debug("yandexgpt: the native API has no %s; ignored", ", ".join(ignored))
    return {
        "modelUri": uri,
        "completionOptions": completion,
        "messages": [{"role": m.role, "text": m.content} for m in messages],
    }


# --- the reply ------------------------------------------------------------------------------------


def parse_usage(raw: Any) -> Usage | None:
    """Usage counts come as strings (int64 in proto-JSON); missing ones are 0."""
    if not isinstance(raw, dict):
        return None
    prompt, completion = token_count(raw, "inputTextTokens"), token_count(raw, "completionTokens")
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=token_count(raw, "totalTokens") or prompt + completion)


def first_alternative(result: Any) -> tuple[str, str]:
    """(text, status) of result.alternatives[0]."""
    alternatives = result.get("alternatives") if isinstance(result, dict) else None
    if not alternatives or not isinstance(alternatives[0], dict):
        return "", ""
    alternative = alternatives[0]
    message = alternative.get("message") or {}
    text = message.get("text") if isinstance(message, dict) else None
    return (text if isinstance(text, str) else ""), str(alternative.get("status") or "")


def finish_reason(status: str) -> str:
    return FINISH_REASONS.get(status, "unknown")


class CumulativeStream:
    """Turns the server's cumulative texts into deltas, so what is printed equals the final text.

    When the server rewrites text it already sent (the new text does not start with the previous
    one), the rewritten part is not printed again: only what extends past the printed length is
    emitted, and the closing chunk carries the server's final text as `final_text` for history.
    """

    def __init__(self, *, request_id: str | None = None) -> None:
        self.request_id = request_id
        self.shown = 0  # characters printed so far
        self.last_text = ""  # the server's latest cumulative text
        self.last_status = ""
        self.last_usage: Any = None
        self.model_version: str | None = None
        self.lines = 0
        self.rewritten = False

    def feed(self, result: Mapping[str, Any]) -> Chunk | None:
        """One `result` object → the delta chunk to print (None when there is nothing new)."""
        self.lines += 1
        text, status = first_alternative(result)
        self.last_status = status
        self.last_usage = result.get("usage", self.last_usage)  # only the last line's counts
        self.model_version = result.get("modelVersion") or self.model_version
        if status == CONTENT_FILTER:  # a replacement (refusal), not a continuation
            self.last_text = text
            return None
        if not text.startswith(self.last_text):
            self.rewritten = True
            log.debug("yandexgpt: the server rewrote earlier text (at line %d); the printed part is "
                      "kept and history gets the final text", self.lines)
        self.last_text = text
        if len(text) <= self.shown:
            return None
        delta, self.shown = text[self.shown:], len(text)
        return Chunk(text=delta, request_id=self.request_id)

    @property
    def finished(self) -> bool:
        # "" = a line with no alternative (a proxy's or gateway's JSON): not an end, or a 200 with
        # some unrelated JSON body would pass for an empty answer
        return self.lines > 0 and self.last_status not in (PARTIAL, "")

    def closing_chunk(self) -> Chunk:
        """The last chunk, once the body has ended after a terminal status."""
        text, notice = "", None
        if self.last_status == CONTENT_FILTER:
            notice = "the reply was replaced by YandexGPT's content filter"
            if self.shown:
                notice += " (the text printed before it was withdrawn; history keeps the refusal)"
            else:
                text = self.last_text
        return Chunk(
            text=text,
            finish_reason=finish_reason(self.last_status),
            usage=parse_usage(self.last_usage),
            request_id=self.request_id,
            final_text=self.last_text,
            notice=notice,
        )


# --- errors ---------------------------------------------------------------------------------------


def error_message(body: Any) -> str | None:
    """The message of a grpc-gateway error body `{"error": {"grpcCode", "httpCode", "message", …}}`
    or of its minimal variants (`{"error": "…"}`, `{"code", "message"}` as the IAM host sends)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error", body)
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and message:
            return message
    return None


def add_hint(error: ProviderError, *, auth_kind: str | None = None) -> ProviderError:
    """Replace the generic hint with what to do about the Yandex errors users meet most."""
    hint = yandex_hint(error.message, error.status_code, auth_kind)
    if hint is None and isinstance(error, RateLimited):
        hint = yandex_hint(error.message, 429, auth_kind)
    if hint is not None:
        error.hint = hint
    return error


def yandex_hint(text: str, status: int | None, auth_kind: str | None = None) -> str | None:
    if status == 429:
        if "SessionsCount" in text:
            return ("YandexGPT allows about 10 concurrent generations per model in a folder "
                    "(llama: 1): run fewer requests in parallel (e.g. xargs -P 4) or ask for "
                    "a higher quota in the console (Quotas → AI Studio)")
        if "PerHour" in text or "rate quota" in text:
            return "an hourly request quota of the folder is used up: wait, or ask for a higher quota"
        return "YandexGPT is rate limiting this folder: wait a little and try again"
    if "does not match" in text:
        return ("the folder id must be the folder of the service account the key belongs to: "
                "set providers.yandexgpt.folder_id (or YC_FOLDER_ID) to that folder")
    if status == 403:
        return ("the account needs the role ai.languageModels.user on the folder "
                "(console: folder → Access bindings), and the folder id must be right")
    if status == 401:
        return {
            "api_key": "the API key was rejected: check YC_API_KEY or run `llmcli keys set yandexgpt`",
            "iam_token": "IAM tokens live at most 12 hours: get a new one with `yc iam create-token`",
        }.get(auth_kind or "", "the credentials were rejected: check the key, token and folder id")
    if status == 404:
        return "check the model name (`llmcli models list -p yandexgpt`) and base_url"
    if "tokens must be no more than" in text or "outside the range" in text:
        return "the conversation is too long for this model: start a new one or shorten the input"
    return None
