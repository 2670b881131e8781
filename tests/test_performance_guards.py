"""Guards for the speed work of issue 9 (bench/README.md): deterministic, never wall-clock.

- which modules a command imports (a heavy import sneaking back costs 0.05–0.4 s on every run);
- how many SQL statements a history command runs (must not grow with the size of the history);
- what the HTTP layer does before a request (no trust store parsed for a plain-http endpoint).

The --help / --version / completion import budget is guarded in test_architecture.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmcli.types import MessageRecord
from tests.fakes.openai_server import openai_server

ROOT = Path(__file__).resolve().parents[1]

# Run llmcli's main() in a fresh interpreter and report the modules it imported (stderr, last line).
PROBE = """
import json, os, sys
sys.argv = ["llmcli", *json.loads(os.environ["PROBE_ARGS"])]
from llmcli.app import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
report = {"code": code, "modules": sorted(sys.modules)}
sys.stderr.write("\\nPROBE=" + json.dumps(report) + "\\n")
"""


def probe_report(args: list[str], env: dict[str, str], stdin: str = "") -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, "-c", PROBE], input=stdin, capture_output=True, text=True,
                          env=dict(env, PROBE_ARGS=json.dumps(args)), cwd=ROOT, timeout=120, check=False)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("PROBE=")]
    assert line, proc.stderr
    return json.loads(line[-1][len("PROBE="):]), proc.stdout


def probe(args: list[str], env: dict[str, str], stdin: str = "") -> tuple[int, str, set[str]]:
    report, stdout = probe_report(args, env, stdin)
    return report["code"], stdout, set(report["modules"])


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.fixture
def fake_openai(e2e_env, llmcli_home):
    """A fake OpenAI-compatible server configured as provider `fake`, its key in the environment."""
    with openai_server(api_key="sk-guard", reply="Paris.") as srv:
        llmcli_home.mkdir(parents=True, exist_ok=True)
        (llmcli_home / "config.toml").write_text(
            f'default_provider = "fake"\n[providers.fake]\nkind = "openai"\n'
            f'base_url = "{srv.url}/v1"\nmodel = "gpt-fake"\n', encoding="utf-8")
        env = dict(e2e_env, LLMCLI_FAKE_API_KEY="sk-guard")
        env.pop("PYTHON_KEYRING_BACKEND", None)  # nothing may need a keyring backend at all
        yield srv, env


def test_piped_ask_with_the_key_in_the_environment_stays_lean(fake_openai, llmcli_home) -> None:
    srv, env = fake_openai
    code, out, modules = probe(["ask", "capital of France?"], env, stdin="one word\n")
    assert code == 0 and out == "Paris.\n"
    assert srv.requests[-1].headers["authorization"] == "Bearer sk-guard"
    # env holds the secret: the keyring is never consulted (it costs ~0.1 s and may block on D-Bus)
    assert "keyring" not in top_level(modules)
    # no LLMCLI_<FIELD> variable set: config.toml is read without pydantic-settings (~0.06 s)
    assert "pydantic_settings" not in top_level(modules)
    # piped output is plain text: no Markdown renderer, no REPL toolkit
    assert not {"prompt_toolkit", "markdown_it", "pygments"} & top_level(modules)
    assert "rich.markdown" not in modules
    with sqlite3.connect(llmcli_home / "history.db") as db:  # saved from the background thread
        rows = db.execute("SELECT role, text, complete FROM messages ORDER BY seq").fetchall()
    assert rows == [("user", "capital of France?\n\none word\n", 1), ("assistant", "Paris.", 1)]


def test_a_broken_history_database_costs_a_warning_not_the_answer(fake_openai, llmcli_home) -> None:
    _, env = fake_openai
    (llmcli_home / "history.db").write_bytes(b"this is not a database" * 100)
    proc = subprocess.run([sys.executable, "-m", "llmcli", "ask", "capital?"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout == "Paris.\n"
    assert proc.stderr.startswith("warning: history not saved:") and "not a SQLite database" in proc.stderr


def test_a_command_builds_only_itself(fake_openai) -> None:
    """typer turns every registered command's signature into parameters at start-up: `ask` builds
    `ask` only (the root --help and completion still list everything: test_architecture.py)."""
    from llmcli.app import COMMANDS

    _, env = fake_openai
    code, _, modules = probe(["ask", "hi"], env)
    assert code == 0
    assert "llmcli.commands.ask" in modules
    assert [m for name, m in COMMANDS.items() if name != "ask" and m in modules] == []


def test_settings_from_the_environment_still_apply(fake_openai) -> None:
    """The fast settings path must not lose LLMCLI_<FIELD> variables: they switch to pydantic-settings."""
    srv, env = fake_openai
    env = dict(env, LLMCLI_DEFAULTS__TEMPERATURE="0.25")
    code, _, modules = probe(["ask", "hi"], env)
    assert code == 0 and srv.requests[-1].json["temperature"] == 0.25
    assert "pydantic_settings" in top_level(modules)


# --- SQL statements per history command ----------------------------------------------------------


def seed(conversations: int) -> None:
    from llmcli.storage import open_store

    with open_store() as store:
        for n in range(conversations):
            cid = f"{n:06d}".ljust(32, "c")
            stamp = f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000000+00:00"
            store.save_message(MessageRecord(cid + "u", cid, "user", f"question {n} about kubernetes", stamp))
            store.save_message(MessageRecord(cid + "a", cid, "assistant", f"answer {n}", stamp,
                                             provider="fake", model="gpt-fake", prompt_tokens=3,
                                             completion_tokens=2, latency_ms=10))


@pytest.fixture
def count_statements():
    """Run a command in-process; return (exit code, number of SQL statements it executed)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from llmcli.app import build_app

    app = build_app()

    def run(*args: str) -> tuple[int, int]:
        seen: list[str] = []

        def on_execute(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        event.listen(Engine, "before_cursor_execute", on_execute)
        try:
            result = CliRunner().invoke(app, list(args))
        finally:
            event.remove(Engine, "before_cursor_execute", on_execute)
        return result.exit_code, len(seen)

    return run


@pytest.mark.parametrize("args", [
    ("history", "list", "-n", "20"),
    ("history", "list", "-n", "20", "--json"),
    ("history", "search", "kubernetes"),
    ("history", "show", "000001"),
    ("history", "stats"),
])
def test_history_commands_run_a_fixed_number_of_queries(count_statements, args) -> None:
    """No N+1: the statements a history command runs do not grow with the history's size."""
    seed(5)
    code, small = count_statements(*args)
    assert code == 0
    seed(60)  # 55 more conversations (ids 000000…000059; the first five are already there)
    code, large = count_statements(*args)
    assert code == 0
    assert large == small
    assert small <= 16  # today 7–13, BEGINs and the migration check included


# --- the HTTP layer --------------------------------------------------------------------------------


def test_a_plain_http_endpoint_never_parses_the_trust_store() -> None:
    from llmcli.providers import http
    from llmcli.providers.base import ProviderSpec
    from llmcli.providers.http import build_client

    http._ssl_context.cache_clear()  # one context per process: an earlier https test loaded its roots
    with openai_server(reply="hi") as srv:
        spec = ProviderSpec(name="local", kind="openai", base_url=srv.url + "/v1")
        with build_client(spec) as client:
            assert client.get("/v1/models").status_code == 200
            context = client._transport._pool._ssl_context  # the context httpx was given
    assert context.cert_store_stats()["x509_ca"] == 0
    assert os.environ.get("SSLKEYLOGFILE") is None or context.keylog_filename


def test_an_https_endpoint_still_verifies_against_the_default_roots() -> None:
    """The deferred trust store is loaded on the first TLS connection: a certificate from an unknown
    CA is refused (fail closed), the roots are there afterwards."""
    from llmcli.errors import ProviderUnavailable
    from llmcli.providers.base import ProviderSpec
    from llmcli.providers.openai_compat import OpenAICompatProvider
    from tests.fakes.tls import session_ca

    with openai_server(tls=session_ca(), reply="hi") as srv:
        provider = OpenAICompatProvider(ProviderSpec(name="tls", kind="openai", base_url=srv.url + "/v1"))
        with pytest.raises(ProviderUnavailable, match="not trusted"):
            provider.list_models()
        context = provider._http()._transport._pool._ssl_context
        provider.close()
    assert context.cert_store_stats()["x509_ca"] > 50  # certifi's roots, loaded on demand


# --- connection reuse ---------------------------------------------------------------------------


def test_chat_turns_reuse_one_connection(llmcli_home, monkeypatch) -> None:
    """The REPL keeps each adapter between turns, so the next question goes out on the previous
    one's keep-alive connection (a new adapter per turn paid a TCP + TLS handshake each time).
    YandexGPT's stream ends with its body, which leaves the connection reusable. (An SSE stream
    that stops reading at `data: [DONE]` leaves the end of the body unread, and httpx drops it.)"""
    from llmcli.config import load_settings
    from llmcli.services.session import ChatSession
    from tests.fakes.yandex_server import yandex_server

    with yandex_server() as srv:
        llmcli_home.mkdir(parents=True, exist_ok=True)
        (llmcli_home / "config.toml").write_text(
            f'default_provider = "yandexgpt"\n[providers.yandexgpt]\nbase_url = "{srv.url}"\n'
            f'iam_url = "{srv.url}/iam/v1/tokens"\nfolder_id = "b1gfakefolder"\n', encoding="utf-8")
        monkeypatch.setenv("YC_API_KEY", "AQVNfake-api-key")
        session = ChatSession(load_settings(), log=False)
        try:
            adapters = []
            for question in ("one", "two", "three"):
                turn = session.start_turn(question)
                assert "".join(chunk.text for chunk in turn.chunks()) == f"echo: {question}"
                session.finish_turn(turn)
                adapters.append(turn.provider)
            assert adapters[0] is adapters[1] is adapters[2]
            assert len(adapters[0]._http()._transport._pool.connections) == 1
        finally:
            session.close()
    assert adapters[0]._client is None  # closed with the session


def test_one_shot_turns_still_close_their_adapter(fake_openai) -> None:
    from llmcli.config import load_settings
    from llmcli.services.chat import ChatService, TurnRequest

    _, env = fake_openai
    os.environ["LLMCLI_FAKE_API_KEY"] = env["LLMCLI_FAKE_API_KEY"]  # `isolated` restores the env after
    turn = ChatService(load_settings()).start_turn(TurnRequest("hi", log=False))
    assert "".join(chunk.text for chunk in turn.chunks()) == "Paris."
    assert turn.provider._client is None


def test_a_tab_press_on_the_first_word_imports_no_pydantic(fake_openai) -> None:
    """typer coerces a None default through a pydantic TypeAdapter; the root's --help and
    completion flags default to False instead, so completing a command name needs no pydantic."""
    _, env = fake_openai
    env = dict(env, _LLMCLI_COMPLETE="complete_bash", COMP_WORDS="llmcli h", COMP_CWORD="1")
    code, out, modules = probe([], env)
    assert code == 0 and out.split() == ["history"]
    assert "pydantic" not in top_level(modules)


def test_the_collector_is_paused_for_a_short_run_then_comes_back(monkeypatch) -> None:
    import gc

    from llmcli import app

    monkeypatch.setattr(app, "GC_PAUSE_SECONDS", 0.05)
    was_enabled = gc.isenabled()
    try:
        resume = app._pause_gc()
        assert not gc.isenabled()  # imports are not walked again and again
        resume.join(timeout=10)
        assert gc.isenabled()  # a long run (chat, history import) collects as usual
    finally:
        if not was_enabled:
            gc.disable()


def test_history_work_waits_for_go_or_its_head_start() -> None:
    """The storage import (~0.3 s holding the GIL) must not run while the request is being sent:
    it waits for go() (the first chunk) or the head start, and finish() never waits for the latter."""
    import threading

    from llmcli.services.recorder import Recorder

    ran = threading.Event()
    recorder = Recorder(store=object())  # type: ignore[arg-type]  # a store that is already open
    recorder.run_in_background(lambda store: ran.set(), head_start=60)
    assert not ran.wait(0.2)
    recorder.go()
    assert ran.wait(10)

    late = Recorder(store=object())  # type: ignore[arg-type]
    saved: list[str] = []
    late.run_in_background(lambda store: saved.append("question"), head_start=60)
    assert late.finish(lambda store: saved.append("reply")) is True  # no 60 s wait
    assert saved == ["question", "reply"]
