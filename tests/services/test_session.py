"""The chat session: a conversation kept across turns, provider/model switches, retry, usage, resume —
with scripted providers in place of the network and the real history database."""

from __future__ import annotations

from typing import Iterator, Sequence

import pytest

from llmcli.errors import CredentialsError, RateLimited, UsageError
from llmcli.services import providers as provider_registry
from llmcli.types import ChatOptions, Chunk, Message, ModelInfo, Usage


class Scripted:
    """Answers every request with `<provider>: <last question>`; remembers what it was sent."""

    def __init__(self, name: str, log: list) -> None:
        self.name = name
        self.log = log

    def list_models(self):
        return []

    def stream_chat(self, model: str, messages: Sequence[Message], options: ChatOptions) -> Iterator[Chunk]:
        self.log.append((self.name, model, list(messages), options))
        question = messages[-1].content
        if question == "fail":
            raise RateLimited("429 Too Many Requests", hint="wait a minute")
        yield Chunk(f"{self.name}: ")
        yield Chunk(question, finish_reason="stop", usage=Usage(10, 5, 15))

    def close(self) -> None:
        pass


@pytest.fixture
def sent(monkeypatch) -> list:
    log: list = []
    monkeypatch.setattr(provider_registry, "open_provider", lambda spec: Scripted(spec.name, log))
    return log


@pytest.fixture
def settings(offline_providers):
    from llmcli.config import load_settings

    offline_providers("alpha", "beta", "nokey", keyed=("alpha", "beta"), head='[defaults]\nsystem = "be brief"\n')
    return load_settings()


@pytest.fixture
def session(settings, sent):
    from llmcli.services.session import ChatSession

    s = ChatSession(settings)
    yield s
    s.close()


def run(session, prompt: str) -> str:
    turn = session.start_turn(prompt)
    try:
        return "".join(chunk.text for chunk in turn.chunks())
    finally:
        session.finish_turn(turn)


def roles_and_text(messages) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in messages]


def test_each_turn_carries_the_conversation_so_far(session, sent) -> None:
    assert run(session, "one") == "alpha: one"
    assert run(session, "two") == "alpha: two"
    assert roles_and_text(sent[-1][2]) == [
        ("system", "be brief"), ("user", "one"), ("assistant", "alpha: one"), ("user", "two")]


def test_switching_provider_keeps_the_conversation_and_records_who_answered(session, sent) -> None:
    run(session, "one")
    assert session.set_provider("beta") == []
    assert (session.provider, session.model) == ("beta", "b-1")
    assert run(session, "two") == "beta: two"
    name, model, messages, _ = sent[-1]
    assert (name, model) == ("beta", "b-1")
    assert roles_and_text(messages)[1:3] == [("user", "one"), ("assistant", "alpha: one")]

    from llmcli.storage import open_store

    with open_store() as store:
        saved = [(m.role, m.provider, m.model) for m in store.messages(session.conversation_id)]
    assert saved == [("system", None, None), ("user", None, None), ("assistant", "alpha", "a-1"),
                     ("user", None, None), ("assistant", "beta", "b-1")]


def test_unknown_provider_or_missing_key_leaves_the_session_as_it_was(session) -> None:
    with pytest.raises(UsageError, match="unknown provider 'bta'") as caught:
        session.set_provider("bta")
    assert "did you mean 'beta'" in caught.value.message + (caught.value.hint or "")
    with pytest.raises(CredentialsError):
        session.set_provider("nokey")
    assert (session.provider, session.model) == ("alpha", "a-1")


def test_model_switch_is_checked_against_the_cached_list(session, sent) -> None:
    from llmcli.services.models import ModelService

    models = [ModelInfo("a-1", "alpha"), ModelInfo("a-2-large", "alpha")]
    ModelService(session.settings, store=session.store()).save("alpha", models, "http://127.0.0.1:9/v1")
    assert session.model_names() == ["a-1", "a-2-large"]
    assert session.set_model("a-2-large") == []
    with pytest.raises(UsageError, match="no such model a-2-lrge for alpha; did you mean a-2-large"):
        session.set_model("a-2-lrge")
    assert session.model == "a-2-large"
    run(session, "hi")
    assert sent[-1][1] == "a-2-large"

    from llmcli.services.session import ChatSession

    with pytest.raises(UsageError, match="no such model a-3 for alpha"):
        ChatSession(session.settings, model="a-3", open_store=False)  # `chat -m a-3` stops at once


def test_switching_to_a_smaller_context_says_old_turns_will_be_left_out(session) -> None:
    session.settings.providers["beta"].__pydantic_extra__["context_window"] = 300
    run(session, "x" * 2000)
    notes = session.set_provider("beta")
    assert len(notes) == 1 and "larger than the 300-token context of b-1" in notes[0]


def test_retry_replaces_the_last_answer(session, sent) -> None:
    run(session, "one")
    run(session, "two")
    session.set_provider("beta")
    turn = session.retry()
    assert "".join(c.text for c in turn.chunks()) == "beta: two"
    session.finish_turn(turn)
    assert roles_and_text(sent[-1][2])[-2:] == [("assistant", "alpha: one"), ("user", "two")]
    assert [(q.text, [r.text for r in replies]) for q, replies in session.exchanges()] == [
        ("one", ["alpha: one"]), ("two", ["beta: two"])]


def test_retry_with_nothing_asked_is_a_usage_error(session) -> None:
    with pytest.raises(UsageError, match="nothing to retry"):
        session.retry()


def test_failed_turn_stays_in_the_conversation_but_not_in_the_context(session, sent) -> None:
    turn = session.start_turn("fail")
    with pytest.raises(RateLimited):
        list(turn.chunks())
    session.finish_turn(turn)
    run(session, "again")
    assert roles_and_text(sent[-1][2]) == [("system", "be brief"), ("user", "again")]
    (_, replies), _ = session.exchanges()
    assert replies[0].complete is False and replies[0].error.startswith("RateLimited")


def test_usage_adds_up_the_replies(session) -> None:
    assert session.usage().replies == 0
    run(session, "one")
    run(session, "two")
    totals = session.usage()
    assert (totals.prompt_tokens, totals.completion_tokens, totals.total_tokens) == (20, 10, 30)
    assert totals.replies == 2


def test_system_prompt_change_applies_to_the_next_turns(session, sent) -> None:
    run(session, "one")
    session.set_system("answer in French")
    assert session.current_system() == "answer in French"
    run(session, "two")
    run(session, "three")
    assert sent[-2][2][0] == Message("system", "answer in French")
    assert sent[-1][2][0] == Message("system", "answer in French")
    session.set_system(None)
    run(session, "four")
    assert sent[-1][2][0].role == "user"
    assert session.current_system() is None


def test_new_conversation_starts_empty_and_resume_brings_a_saved_one_back(settings, session, sent) -> None:
    from llmcli.services.session import ChatSession

    run(session, "remember me")
    first = session.conversation_id
    session.new_conversation()
    assert session.conversation_id != first and session.history == []
    run(session, "fresh")
    assert roles_and_text(sent[-1][2]) == [("system", "be brief"), ("user", "fresh")]

    later = ChatSession(settings)
    try:
        assert later.resume(first[:8]) is True
        assert [r.text for r in later.history if r.role == "user"] == ["remember me"]
        run(later, "and now?")
        assert ("user", "remember me") in roles_and_text(sent[-1][2])
        assert later.resume() is True and later.conversation_id == first  # the most recent one
    finally:
        later.close()


def test_resume_with_no_history_says_so(settings, sent) -> None:
    from llmcli.services.session import ChatSession

    session = ChatSession(settings)
    try:
        assert session.resume() is False
        with pytest.raises(UsageError, match="no conversation matches 'zzz'"):
            session.resume("zzz")
    finally:
        session.close()


@pytest.mark.parametrize("key, raw, expected", [
    ("temperature", "0.3", 0.3), ("top-p", "0.9", 0.9), ("max_tokens", "256", 256),
    ("temperature", "default", None),
])
def test_generation_settings_are_sent(session, sent, key, raw, expected) -> None:
    assert session.set_option(key, raw) == expected
    run(session, "hi")
    options = sent[-1][3]
    assert getattr(options, key.replace("-", "_")) == expected


@pytest.mark.parametrize("key, raw, message", [
    ("temperature", "3", "temperature must be a number from 0 to 2"),
    ("max_tokens", "1.5", "max_tokens must be a whole number above 0"),
    ("top_p", "0", "top_p must be a number above 0, at most 1"),
    ("temprature", "1", "unknown setting 'temprature'; did you mean 'temperature'?"),
])
def test_bad_generation_settings_are_refused(session, key, raw, message) -> None:
    with pytest.raises(UsageError) as caught:
        session.set_option(key, raw)
    assert caught.value.message == message
    assert session.options == {"temperature": None, "top_p": None, "max_tokens": None}


def test_markdown_export_has_every_turn(session) -> None:
    with pytest.raises(UsageError, match="nothing to save"):
        session.markdown()
    run(session, "one")
    session.set_provider("beta")
    run(session, "two")
    text = session.markdown()
    assert text.startswith("# one\n")
    assert "## assistant · alpha/a-1\n\nalpha: one" in text and "## assistant · beta/b-1\n\nbeta: two" in text


def test_no_log_saves_nothing_but_keeps_the_context(settings, sent, llmcli_home) -> None:
    from llmcli.services.session import ChatSession

    session = ChatSession(settings, log=False)
    try:
        run(session, "secret one")
        run(session, "secret two")
        assert ("user", "secret one") in roles_and_text(sent[-1][2])
        store = session.store()
        assert store.messages(session.conversation_id) == []
    finally:
        session.close()
