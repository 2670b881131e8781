"""The `local` provider: a GGUF model run in-process by llama.cpp (optional extra `llmcli[local]`).

Models: the bundled Gemma 3 270M (`gemma3-270m`, the default) and any GGUF file, named by path
(`-m ~/models/x.gguf`) or by file stem inside the models folder (`options.models_dir`, default
`<cache>/models`). A model with its own chat template is prompted through it; a base model
without one gets a "Q:/A:" completion prompt (see local_prompt.py).

Generation runs in a worker thread that feeds a queue; the generator reads the queue with a short
timeout, so Ctrl-C reaches the main thread at once, and on the way out it tells the engine to stop
(the engine's callback returns True at the next token).
"""

from __future__ import annotations

import difflib
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcli.errors import ProviderUnavailable, StreamBroken, UsageError
from llmcli.providers.base import ProviderSpec
from llmcli.providers.local_engine import (
    BUNDLED_CONTEXT,
    BUNDLED_FILE,
    BUNDLED_MODEL,
    BUNDLED_PACKAGE,
    ENGINE_PACKAGE,
    Engine,
    XllamacppEngine,
    bundled_model_path,
    engine_error,
    failure_error,
    is_installed,
    parse_chunk,
    require_package,
    take_first_use_notice,
)
from llmcli.providers.local_gguf import GGUFFormatError, chat_template, context_length
from llmcli.providers.local_prompt import COMPLETION_STOPS, StopFilter, chat_messages, completion_prompt
from llmcli.types import ChatOptions, Chunk, Message, ModelInfo, Usage

EngineFactory = Callable[[Path, Mapping[str, Any]], Engine]

DEFAULT_MAX_TOKENS = 512  # a base model rambles on; bound it unless the user asks for more
POLL_SECONDS = 0.1  # how often the waiting generator wakes up (Ctrl-C, silence timeout)
STOP_GRACE_SECONDS = 2.0  # how long to wait for the engine to notice a stop request
PASSTHROUGH_OPTIONS = ("top_k", "min_p", "seed", "repeat_penalty", "presence_penalty", "frequency_penalty")
_SHARD = re.compile(r"-(\d{5})-of-\d{5}\.gguf$")


@dataclass(frozen=True)
class LocalModel:
    id: str
    path: Path
    use_chat_template: bool  # False: Q:/A: completion prompt
    bundled: bool = False


class _Done:
    """Queue sentinel: the engine call returned."""


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class LocalProvider:
    def __init__(self, spec: ProviderSpec, *, engine_factory: EngineFactory | None = None) -> None:
        self.name = spec.name
        self.spec = spec
        self._engine_factory: EngineFactory = engine_factory or XllamacppEngine
        # A caller that brings its own engine (tests) does not need xllamacpp installed.
        self._needs_xllamacpp = engine_factory is None
        self._engine: Engine | None = None
        self._engine_path: Path | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- folders -------------------------------------------------------------------------
    def cache_dir(self) -> Path:
        configured = self.spec.options.get("cache_dir")
        if configured:
            return Path(configured).expanduser()
        from llmcli.paths import get_paths

        return get_paths().cache_dir

    def models_dir(self) -> Path:
        configured = self.spec.options.get("models_dir")
        return Path(configured).expanduser() if configured else self.cache_dir() / "models"

    # ---- models --------------------------------------------------------------------------
    def _require_engine(self) -> None:
        if self._needs_xllamacpp:
            require_package(ENGINE_PACKAGE, "the local provider")

    def list_models(self) -> list[ModelInfo]:
        self._require_engine()
        models: list[ModelInfo] = []
        if is_installed(BUNDLED_PACKAGE):
            models.append(ModelInfo(BUNDLED_MODEL, self.name, "chat", BUNDLED_CONTEXT, owned_by="google"))
        for path in self._model_files():
            try:
                window = context_length(path)
            except (OSError, GGUFFormatError):
                window = None
            models.append(ModelInfo(path.stem, self.name, "chat", window, owned_by="local"))
        return models

    def _model_files(self) -> list[Path]:
        folder = self.models_dir()
        if not folder.is_dir():
            return []
        files = []
        for path in sorted(folder.glob("*.gguf")):
            shard = _SHARD.search(path.name)
            if path.name == BUNDLED_FILE or path.name.startswith("mmproj") or (shard and shard[1] != "00001"):
                continue  # listed as gemma3-270m / not a chat model / not the first part of a split
            files.append(path)
        return files

    def resolve_model(self, model: str | None) -> LocalModel:
        """A model name → the file to load and how to prompt it. UsageError when there is none."""
        name = (model or self.spec.model or BUNDLED_MODEL).strip()
        if name == BUNDLED_MODEL:
            path = bundled_model_path(self.cache_dir() / "models")
            return LocalModel(BUNDLED_MODEL, path, use_chat_template=False, bundled=True)
        path = self._find_file(name)
        try:
            has_template = chat_template(path) is not None
        except GGUFFormatError as exc:
            raise UsageError(f"{path} is not a usable GGUF model: {exc}") from None
        except OSError as exc:
            raise UsageError(f"cannot read the model file {path}: {exc.strerror or exc}") from None
        prompt_format = str(self.spec.options.get("prompt_format") or "auto")
        if prompt_format in ("chat", "completion"):
            has_template = prompt_format == "chat"
        return LocalModel(name, path, use_chat_template=has_template)

    def _find_file(self, name: str) -> Path:
        looks_like_path = name.endswith(".gguf") or "/" in name or "\\" in name or name.startswith("~")
        candidates = [Path(name).expanduser()] if looks_like_path else []
        candidates += [self.models_dir() / name, self.models_dir() / f"{name}.gguf"]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        known = [BUNDLED_MODEL] + [p.stem for p in self._model_files()]
        close = difflib.get_close_matches(name, known, n=1)
        if looks_like_path:
            message = f"model file not found: {Path(name).expanduser()}"
        else:
            message = f"unknown local model {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        raise UsageError(
            message,
            hint=f"give the path of a .gguf file (-m ~/models/x.gguf) or put it in {self.models_dir()}; "
            f"known: {', '.join(known)}",
        )

    # ---- chat ----------------------------------------------------------------------------
    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        self._require_engine()
        local = self.resolve_model(model)
        engine = self._load(local)
        request = _sampling(options, local)
        if local.use_chat_template:
            request["messages"] = chat_messages(messages)
            request["stream_options"] = {"include_usage": True}
            call, stops = engine.chat, ()
        else:
            request["prompt"] = completion_prompt(messages)
            request["stop"] = list(COMPLETION_STOPS)
            call, stops = engine.complete, COMPLETION_STOPS
        request["stream"] = True
        request["cache_prompt"] = True  # the next chat turn reuses this prefix
        yield from self._generate(call, request, StopFilter(stops), local)

    def _load(self, local: LocalModel) -> Engine:
        if self._engine is not None and self._engine_path == local.path:
            return self._engine
        self.close()
        self._engine = self._engine_factory(local.path, self.spec.options)
        self._engine_path = local.path
        return self._engine

    def _generate(self, call: Callable[[dict, Callable[[dict], bool]], None], request: dict,
                  stop_filter: StopFilter, local: LocalModel) -> Iterator[Chunk]:
        items: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def on_chunk(data: dict) -> bool:
            items.put(data)
            return stop.is_set()

        def run() -> None:
            try:
                call(request, on_chunk)
            except BaseException as exc:  # noqa: BLE001 - the consumer raises it as a typed error
                items.put(_Failure(exc))
            finally:
                items.put(_Done())

        worker = threading.Thread(target=run, name="llmcli-local-generate", daemon=True)
        self._worker, self._stop = worker, stop
        worker.start()
        started = False  # has the user been shown any text?
        notice_due = local.bundled  # the licence notice rides on the first chunk, once ever
        finish_reason: str | None = None
        usage: Usage | None = None
        try:
            while True:
                item = self._next_item(items, started)
                if isinstance(item, _Done):
                    break
                if isinstance(item, _Failure):
                    raise failure_error(str(item.error) or type(item.error).__name__, started, self.name)
                if "error" in item:
                    raise engine_error(item["error"], started, self.name)
                text, reason, item_usage = parse_chunk(item)
                finish_reason = reason or finish_reason
                usage = item_usage or usage
                visible = stop_filter.feed(text)
                if visible:
                    started = True
                    yield Chunk(text=visible, model=local.id, notice=self._notice(notice_due))
                    notice_due = False
            if stop_filter.stopped:
                finish_reason = "stop"
            yield Chunk(text=stop_filter.finish(), finish_reason=finish_reason or "stop", usage=usage,
                        model=local.id, notice=self._notice(notice_due))
        finally:
            stop.set()  # consumer gone (done, Ctrl-C, GeneratorExit): the engine stops at its next token
            worker.join(timeout=STOP_GRACE_SECONDS)

    def _notice(self, due: bool) -> str | None:
        return take_first_use_notice(self.cache_dir()) if due else None

    def _next_item(self, items: queue.Queue[Any], started: bool) -> Any:
        silence_limit = self.spec.timeout
        last = time.monotonic()
        while True:
            try:
                return items.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if time.monotonic() - last > silence_limit:
                    message = f"the local model produced nothing for {silence_limit:g} s"
                    hint = (f"the machine may be busy; raise timeout under [providers.{self.name}] "
                            "or use a smaller model")
                    error = StreamBroken if started else ProviderUnavailable
                    raise error(message, hint=hint, provider=self.name) from None

    def close(self) -> None:
        worker = self._worker
        if worker is not None and worker.is_alive():
            self._stop.set()
            worker.join(timeout=10 * STOP_GRACE_SECONDS)
            if worker.is_alive():
                return  # never free a model that is still generating; process exit will
        if self._engine is not None:
            self._engine.close()
        self._engine = None
        self._engine_path = None


def _sampling(options: ChatOptions, local: LocalModel) -> dict[str, Any]:
    request: dict[str, Any] = {"max_tokens": options.max_tokens or DEFAULT_MAX_TOKENS}
    temperature = options.temperature
    if temperature is None and not local.use_chat_template:
        temperature = 0.0  # a base model answers right greedily and wanders when sampled
    if temperature is not None:
        request["temperature"] = temperature
    if options.top_p is not None:
        request["top_p"] = options.top_p
    for key in PASSTHROUGH_OPTIONS:
        if key in options.extra:
            request[key] = options.extra[key]
    return request
