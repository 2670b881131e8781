"""Key resolution env → keyring → 0600 file, the guarded keyring, and the token cache."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null

from llmcli.errors import CredentialsError
from llmcli.services import credentials, keyring_access, token_cache
from llmcli.services.credentials import remove_secret, resolve_secrets, store_secret
from llmcli.types import Secret

SENTINEL = "sk-SENTINEL-0123456789abcdef"


class RecordingKeyring(KeyringBackend):
    """An OS-grade backend (priority 1) that records every call."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append(f"get {username}")
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append(f"set {username}")
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.calls.append(f"delete {username}")
        if self.store.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


class PlaintextLikeKeyring(RecordingKeyring):
    priority = 0.5  # type: ignore[assignment]  # what keyrings.alt's file backends declare


class HangingKeyring(RecordingKeyring):
    """A locked collection waiting for an unlock prompt that never comes."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append(f"get {username}")
        self.release.wait(30)
        return None


class LeakyKeyring(RecordingKeyring):
    """A broken backend whose error message contains the password it was given."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(f"dbus said no to {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


@pytest.fixture
def backend() -> RecordingKeyring:
    recording = RecordingKeyring()
    keyring.set_keyring(recording)  # conftest restores the previous backend afterwards
    return recording


@pytest.fixture
def no_keyring() -> None:
    keyring.set_keyring(fail.Keyring())


@pytest.fixture
def credentials_file(llmcli_home: Path) -> Path:
    return llmcli_home / "credentials.toml"


def revealed(resolved: credentials.ResolvedSecrets) -> dict[str, str]:
    return {name: value.reveal() for name, value in resolved.secrets.items()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- env ---------------------------------------------------------------------------------------------


def test_env_beats_keyring_and_the_keyring_is_not_touched(backend, monkeypatch) -> None:
    backend.store[("llmcli", "openai")] = "sk-from-keyring"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    resolved = resolve_secrets("openai", "openai")
    assert (resolved.source, revealed(resolved)) == ("env", {"api_key": "sk-from-env"})
    assert resolved.detail == "OPENAI_API_KEY"
    assert backend.calls == []


def test_llmcli_variable_is_the_primary_secret_of_any_kind(backend, monkeypatch) -> None:
    monkeypatch.setenv("LLMCLI_GIGACHAT_API_KEY", "base64-auth-key")
    monkeypatch.setenv("GIGACHAT_CREDENTIALS", "vendor-variable")
    assert revealed(resolve_secrets("gigachat", "gigachat")) == {"credentials": "base64-auth-key"}
    monkeypatch.setenv("LLMCLI_MY_ROUTER_API_KEY", "sk-router")
    assert revealed(resolve_secrets("my-router", "openai")) == {"api_key": "sk-router"}
    assert backend.calls == []


def test_openai_api_key_belongs_to_the_openai_provider_only(backend, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    resolved = resolve_secrets("openrouter", "openai")  # never send OpenAI's key to another host
    assert resolved.source == "none" and resolved.secrets == {}


def test_vendor_variables_of_a_kind_serve_every_provider_of_that_kind(backend, monkeypatch) -> None:
    monkeypatch.setenv("YC_IAM_TOKEN", "t1.iam")
    resolved = resolve_secrets("yandex-work", "yandexgpt")
    assert (resolved.source, revealed(resolved)) == ("env", {"iam_token": "t1.iam"})
    assert backend.calls == []


def test_a_lone_username_does_not_hide_the_stored_key(backend, monkeypatch) -> None:
    backend.store[("llmcli", "gigachat")] = "stored-auth-key"
    monkeypatch.setenv("GIGACHAT_USER", "someone")
    resolved = resolve_secrets("gigachat", "gigachat")
    assert resolved.source == "keyring"
    assert revealed(resolved) == {"user": "someone", "credentials": "stored-auth-key"}


def test_empty_variables_do_not_count(backend, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    backend.store[("llmcli", "openai")] = "sk-from-keyring"
    assert resolve_secrets("openai", "openai").source == "keyring"


# --- keyring -----------------------------------------------------------------------------------------


def test_keyring_entry_is_the_primary_secret(backend) -> None:
    backend.store[("llmcli", "gigachat")] = "stored-auth-key"
    resolved = resolve_secrets("gigachat", "gigachat")
    assert (resolved.source, revealed(resolved)) == ("keyring", {"credentials": "stored-auth-key"})
    assert credentials.credential_source("gigachat", "gigachat") == "keyring"


def test_fail_backend_means_no_keyring_with_the_reason(no_keyring) -> None:
    resolved = resolve_secrets("openai", "openai")
    assert resolved.source == "none"
    assert resolved.problems == ("no usable OS keyring (keyring.backends.fail.Keyring)",)
    assert credentials.keyring_status() == (False, "no usable OS keyring (keyring.backends.fail.Keyring)")


def test_null_backend_never_counts_even_when_chosen(monkeypatch) -> None:
    keyring.set_keyring(null.Keyring())
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    assert credentials.keyring_status()[0] is False


def test_not_recommended_backend_is_ignored_unless_chosen_explicitly(monkeypatch) -> None:
    plaintext = PlaintextLikeKeyring()
    plaintext.store[("llmcli", "openai")] = "sk-in-a-base64-file"
    keyring.set_keyring(plaintext)
    usable, reason = credentials.keyring_status()
    assert not usable and "not a secure OS keyring" in reason
    assert resolve_secrets("openai", "openai").source == "none"
    assert plaintext.calls == []
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.PlaintextLikeKeyring")
    assert resolve_secrets("openai", "openai").source == "keyring"


def test_a_chainer_uses_its_real_backend_not_the_plaintext_one() -> None:
    real, plaintext = RecordingKeyring(), PlaintextLikeKeyring()
    real.store[("llmcli", "openai")] = "sk-real"
    plaintext.store[("llmcli", "openai")] = "sk-plaintext"

    class Chainer(KeyringBackend):
        priority = 10  # type: ignore[assignment]
        backends = (plaintext, real)

        def get_password(self, service, username):  # pragma: no cover - must not be used
            raise AssertionError("the chainer itself was asked")

        set_password = delete_password = get_password

    keyring.set_keyring(Chainer())
    assert revealed(resolve_secrets("openai", "openai")) == {"api_key": "sk-real"}
    assert plaintext.calls == []


def test_a_hanging_keyring_times_out_falls_through_and_is_not_asked_again(monkeypatch) -> None:
    monkeypatch.setattr(keyring_access, "KEYRING_TIMEOUT", 0.1)
    monkeypatch.setattr(keyring_access, "_hung_backends", set())
    hanging = HangingKeyring()
    keyring.set_keyring(hanging)
    try:
        first = resolve_secrets("openai", "openai")
        assert first.source == "none"
        assert "did not answer within 0.1 s" in first.problems[0]
        second = resolve_secrets("gigachat", "gigachat")
        assert second.source == "none" and "did not answer earlier" in second.problems[0]
        assert hanging.calls == ["get openai"]  # the stuck backend was asked once
    finally:
        hanging.release.set()


def test_keyring_errors_never_carry_the_secret() -> None:
    keyring.set_keyring(LeakyKeyring())
    with pytest.raises(CredentialsError) as caught:
        store_secret("openai", SENTINEL)
    assert SENTINEL not in caught.value.message + str(caught.value.hint)
    assert "RuntimeError" in caught.value.message
    assert "--insecure-storage" in caught.value.hint


# --- the opt-in file ---------------------------------------------------------------------------------


def test_insecure_storage_writes_a_0600_file_that_resolves(no_keyring, credentials_file, llmcli_home) -> None:
    where = store_secret("gigachat", "auth-key-from-file", insecure=True)
    assert where == str(credentials_file)
    assert mode(credentials_file) == 0o600 and mode(llmcli_home) == 0o700
    resolved = resolve_secrets("gigachat", "gigachat")
    assert (resolved.source, revealed(resolved)) == ("file", {"credentials": "auth-key-from-file"})
    store_secret("openai", "sk-second", insecure=True)  # other providers' entries are kept
    assert revealed(resolve_secrets("gigachat", "gigachat")) == {"credentials": "auth-key-from-file"}


def test_a_group_readable_credentials_file_is_refused(no_keyring, credentials_file) -> None:
    store_secret("openai", SENTINEL, insecure=True)
    os.chmod(credentials_file, 0o644)
    with pytest.raises(CredentialsError) as caught:
        resolve_secrets("openai", "openai")
    assert "other users can read it" in caught.value.message
    assert caught.value.hint == f"chmod 600 {credentials_file}"
    assert SENTINEL not in caught.value.message
    assert caught.value.exit_code == 3


def test_keyring_beats_the_file_and_storing_there_removes_the_plain_copy(backend, credentials_file) -> None:
    store_secret("openai", "sk-old-plain", insecure=True)
    assert store_secret("openai", "sk-new") == "keyring"
    assert backend.store[("llmcli", "openai")] == "sk-new"
    assert not credentials_file.exists()
    assert revealed(resolve_secrets("openai", "openai")) == {"api_key": "sk-new"}


def test_without_a_keyring_store_secret_says_how_to_proceed(no_keyring) -> None:
    with pytest.raises(CredentialsError) as caught:
        store_secret("gigachat", SENTINEL)
    assert "keys set gigachat --insecure-storage" in caught.value.hint


def test_remove_secret_reports_where_it_was(backend, credentials_file) -> None:
    backend.store[("llmcli", "openai")] = "sk-keyring"
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    credentials_file.write_text('[openai]\napi_key = "sk-file"\n[gigachat]\napi_key = "other"\n')
    os.chmod(credentials_file, 0o600)
    assert remove_secret("openai") == ["keyring", str(credentials_file)]
    assert resolve_secrets("openai", "openai").source == "none"
    assert resolve_secrets("gigachat", "gigachat").source == "file"  # the other entry survives
    assert remove_secret("openai") == []


def test_remove_secret_from_a_locked_keyring_is_an_error() -> None:
    keyring.set_keyring(LeakyKeyring())
    with pytest.raises(CredentialsError, match="could not remove the key for openai"):
        remove_secret("openai")


# --- the error users see -----------------------------------------------------------------------------


def test_missing_key_error_with_a_keyring(backend) -> None:
    error = credentials.missing_credentials_error("gigachat", "gigachat")
    assert (error.message, error.exit_code) == ("no API key for gigachat", 3)
    assert error.hint == "export GIGACHAT_CREDENTIALS=… or run `llmcli keys set gigachat`"


def test_missing_key_error_without_a_keyring_mentions_insecure_storage(no_keyring) -> None:
    error = credentials.missing_credentials_error("my-router", "openai")
    assert error.hint.startswith("export LLMCLI_MY_ROUTER_API_KEY=… or run `llmcli keys set my-router --insecure-storage`")
    assert "keyring.backends.fail.Keyring" in error.hint


def test_secrets_are_masked_in_repr(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    resolved = resolve_secrets("openai", "openai")
    assert SENTINEL not in repr(resolved) and isinstance(resolved.secrets["api_key"], Secret)


# --- token cache -------------------------------------------------------------------------------------


def test_token_store_uses_the_keyring_when_there_is_one(backend) -> None:
    store = credentials.make_token_store("gigachat")
    expires = time.time() + 1800
    store.save("scope:abc", "access-token", expires)
    assert json.loads(backend.store[("llmcli", "gigachat:token:scope:abc")])["token"] == "access-token"
    assert store.load("scope:abc") == ("access-token", expires)
    store.clear("scope:abc")
    assert store.load("scope:abc") is None


def test_token_store_falls_back_to_private_files(no_keyring, llmcli_home) -> None:
    store = credentials.make_token_store()
    expires = time.time() + 1800
    store.save("gigachat:scope:abc", "access-token", expires)
    folder = llmcli_home / "cache" / "tokens"
    (token_file,) = folder.iterdir()
    assert mode(token_file) == 0o600 and mode(folder) == 0o700
    assert "gigachat" not in token_file.name
    assert credentials.make_token_store().load("gigachat:scope:abc") == ("access-token", expires)
    store.save("expired", "old-token", time.time() - 1)
    assert store.load("expired") is None
    os.chmod(token_file, 0o644)  # someone could have planted it
    assert store.load("gigachat:scope:abc") is None
    store.clear("gigachat:scope:abc")
    assert not token_file.exists()


def test_token_store_does_not_probe_the_keyring_until_used(backend) -> None:
    token_cache.make_token_store("openai")
    assert backend.calls == []
