"""GigaChat's wire format as pure functions: the request body, SSE events and JSON answers → Chunks,
error bodies → messages and hints. No I/O here, so every rule is tested on plain data.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from llmcli.errors import ProviderError, ProviderUnavailable, RateLimited, StreamBroken, UsageError
from llmcli.providers.streams import error_class_for_status
from llmcli.providers.usage_counts import token_count
from llmcli.types import ChatOptions, Chunk, Message, Usage

BLACKLIST_NOTICE = "GigaChat's content filter stopped the reply (finish_reason: blacklist)"
CERTIFICATE_HINT = (
    "GigaChat's certificates are issued by the «Russian Trusted Root CA», which is not in the default "
    "trust store. Download it from https://www.gosuslugi.ru/crt («Russian Trusted Root CA», for "
    "Linux/macOS; also the «Russian Trusted Sub CA» if the chain is still incomplete), save it as PEM "
    "and run: llmcli config set providers.gigachat.ca_bundle /path/russian_trusted_root_ca.pem"
)
# temperature must be > 0; values in (0, 0.001] are GigaChat's deterministic mode
DETERMINISTIC_TEMPERATURE = 0.001
MODEL_TYPES = {"chat": "chat", "embedder": "embedder"}


# --- request building (pure)


def merge_system_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """GigaChat accepts one system message, and only as the first: join them all, put it first."""
    system = [m.content for m in messages if m.role == "system" and m.content.strip()]
    rest = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + rest


def _to_float(name: str, value: Any, *, minimum: float, inclusive: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number) or number < minimum or (number == minimum and not inclusive):
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        raise UsageError(f"{name} must be {bound}, not {value!r}")
    return number


def _to_bool(name: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{name} must be true or false, not {value!r}")


EXTRA_OPTIONS: dict[str, Callable[[str, Any], Any]] = {
    "repetition_penalty": lambda n, v: _to_float(n, v, minimum=0.0, inclusive=False),
    "update_interval": lambda n, v: _to_float(n, v, minimum=0.0, inclusive=True),
    "profanity_check": _to_bool,
}


def extra_options(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and convert `-o KEY=VALUE` options (strings from the command line)."""
    converted = {}
    for name, value in extra.items():
        convert = EXTRA_OPTIONS.get(name)
        if convert is None:
            raise UsageError(
                f"GigaChat does not understand the option {name!r}",
                hint="GigaChat options: " + ", ".join(sorted(EXTRA_OPTIONS)),
            )
        converted[name] = convert(name, value)
    return converted


def chat_body(model: str, messages: Sequence[Message], options: ChatOptions) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": merge_system_messages(messages)}
    if options.temperature is not None:
        body["temperature"] = max(float(options.temperature), DETERMINISTIC_TEMPERATURE)
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if options.max_tokens is not None:
        body["max_tokens"] = options.max_tokens
    body.update(extra_options(options.extra))
    body["stream"] = options.stream
    return body


# --- response reading (pure)


def parse_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(token_count(raw, "prompt_tokens"), token_count(raw, "completion_tokens"),
                 token_count(raw, "total_tokens"), cached_tokens=token_count(raw, "precached_prompt_tokens"))


def final_chunk(finish_reason: str | None, usage: Usage | None, model: str | None,
                request_id: str | None, text: str = "") -> Chunk:
    if finish_reason == "blacklist":
        return Chunk(text=text, finish_reason="content_filter", usage=usage, model=model,
                     request_id=request_id, notice=BLACKLIST_NOTICE)
    return Chunk(text=text, finish_reason=finish_reason, usage=usage, model=model, request_id=request_id)


def _in_band_error(event: dict, provider: str, started: bool) -> ProviderError | None:
    """GigaChat's own error shape, {"status", "message"}, arriving as an event instead of a reply."""
    if "choices" in event or not event.get("message"):
        return None
    status = event.get("status") if isinstance(event.get("status"), int) else None
    cls = StreamBroken if started else error_class_for_status(status)
    if cls is StreamBroken and not started:
        cls = ProviderUnavailable
    return cls(f"{provider}: the server reported an error: {event['message']}", provider=provider,
               status_code=status, in_band=True)


def chunks_from_events(events: Iterable[dict], request_id: str | None,
                       provider: str = "gigachat") -> Iterator[Chunk]:
    """SSE events → text deltas, then one final chunk with finish_reason and usage."""
    model = finish_reason = None
    usage = None
    started = False
    for event in events:
        error = _in_band_error(event, provider, started)
        if error is not None:
            raise error
        model = event.get("model") or model
        choices = event.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        text = (choice.get("delta") or {}).get("content") or ""
        if text:
            started = True
            yield Chunk(text=text, model=model, request_id=request_id)
        finish_reason = choice.get("finish_reason") or finish_reason
        usage = parse_usage(event.get("usage")) or usage
    if finish_reason is None:
        error_cls = StreamBroken if started else ProviderUnavailable
        raise error_cls(f"{provider}: the stream ended before the reply was complete", provider=provider,
                        request_id=request_id)
    yield final_chunk(finish_reason, usage, model, request_id)


def chunks_from_completion(data: Any, request_id: str | None, provider: str = "gigachat") -> list[Chunk]:
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProviderUnavailable(f"{provider}: the answer has no reply in it", provider=provider,
                                  request_id=request_id) from None
    model = data.get("model")
    chunks = [Chunk(text=text, model=model, request_id=request_id)] if text else []
    chunks.append(final_chunk(choice.get("finish_reason") or "stop", parse_usage(data.get("usage")),
                              model, request_id))
    return chunks


def api_error_message(response: httpx.Response) -> str | None:
    """The `message` of GigaChat's `{"status", "message"}` error bodies."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return None


def _is_certificate_failure(error: BaseException) -> bool:
    """A TLS verification failure, found in the cause chain or in http.py's message."""
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower() and "not trusted" in text:
        return True
    seen: BaseException | None = error.__cause__ or error.__context__
    for _ in range(10):  # bounded, in case of a cycle
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def gigachat_hint(error: ProviderError) -> str | None:
    """What to do about an error, in GigaChat's terms (None: the generic hint is as good)."""
    status = error.status_code
    if isinstance(error, ProviderUnavailable) and _is_certificate_failure(error):
        return CERTIFICATE_HINT
    if status == 404 and "model" in (error.message or "").lower():
        return "see the models your key can use: llmcli models list -p gigachat"
    if status == 402:
        return ("the token package for this model is used up: top it up at "
                "https://developers.sber.ru/studio or pick another model with -m")
    if status == 403:
        return "your key's scope does not allow this model or endpoint (check providers.gigachat.scope)"
    if isinstance(error, RateLimited):
        return "GigaChat limits how many requests a key may run at once; wait a little or run fewer in parallel"
    if status == 413 and not error.hint:
        return "the request is too large: shorten the prompt or start a new conversation"
    return None


def explain(error: ProviderError) -> ProviderError:
    """Replace http.py's generic hint where GigaChat's situation has a more precise one."""
    hint = gigachat_hint(error)
    if hint:
        error.hint = hint
    return error
