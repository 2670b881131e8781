"""GigaChat access tokens: OAuth with the authorization key, user/password, or a token given as is.

A fetched token is cached across invocations in spec.token_store and refreshed 60 s before it
expires, under a lock with a re-check, so concurrent callers cause one OAuth request, not many.
Nothing here ever puts a key, password or token into an exception, a log line or a token-store key.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from llmcli.errors import (
    AuthError,
    ConfigError,
    CredentialsError,
    LlmcliError,
    ProviderError,
    ProviderUnavailable,
)
from llmcli.providers.base import ProviderSpec

log = logging.getLogger("llmcli")

DEFAULT_AUTH_URL = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
DEFAULT_SCOPE = "GIGACHAT_API_PERS"
SCOPES = ("GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")
REFRESH_MARGIN_SECONDS = 60.0  # what the official SDK uses: never start a call on a token about to die
ASSUMED_LIFETIME_SECONDS = 30 * 60.0  # documented lifetime, used when the answer has no expiry

KEY_HINT = (
    "set GIGACHAT_CREDENTIALS (or run `llmcli keys set gigachat`) to the *authorization key* "
    "(«Ключ авторизации») of your GigaChat API project: https://developers.sber.ru/studio → "
    "your project → Settings API → Get key. Paste it exactly as shown (it is base64 of "
    "client_id:client_secret)"
)
SCOPE_NAMES = {
    "GIGACHAT_API_PERS": "individuals",
    "GIGACHAT_API_B2B": "business, prepaid",
    "GIGACHAT_API_CORP": "business, pay-as-you-go",
}
STATIC_TOKEN_HINT = (
    "access tokens live 30 minutes and llmcli cannot renew one given in GIGACHAT_ACCESS_TOKEN; "
    "get a new token, or set GIGACHAT_CREDENTIALS (the authorization key) instead so llmcli "
    "fetches and renews tokens itself"
)

# send(request, error_parser, deadline) -> response; raises llmcli errors for non-2xx answers
Sender = Callable[[httpx.Request, Callable[[httpx.Response], str | None], Any], httpx.Response]


def scope_hint(current: str) -> str:
    """Which scopes to try instead of the one the key was refused for."""
    others = [s for s in SCOPES if s != current]
    choices = " or ".join(f"{s} ({SCOPE_NAMES[s]})" for s in others)
    return (f"this key is for another scope; set providers.gigachat.scope = {choices}, "
            f"e.g. `llmcli config set providers.gigachat.scope {others[0]}`")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def normalize_authorization_key(raw: str) -> str:
    """The key as sent after `Basic `: whitespace and a pasted `Basic ` prefix removed.

    Users who were given a Client ID and Client Secret sometimes paste `id:secret`; base64 never
    contains ':', so such a value is encoded the way the portal would have done it.
    """
    key = raw.strip()
    if key[:6].lower() == "basic ":
        key = key[6:].strip()
    if ":" in key:
        key = base64.b64encode(key.encode("utf-8")).decode("ascii")
    return key


def expiry_to_epoch_seconds(value: Any, now: float) -> float:
    """GigaChat sends milliseconds (`expires_at`), sometimes seconds (`exp`): accept both."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return now + ASSUMED_LIFETIME_SECONDS
    if not math.isfinite(number) or number <= 0:
        return now + ASSUMED_LIFETIME_SECONDS
    return number / 1000.0 if number >= 1e12 else number


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class GigaChatAuth:
    """Hands out a usable access token; renews it when it is about to expire or was rejected."""

    def __init__(
        self,
        spec: ProviderSpec,
        *,
        client: httpx.Client,
        send: Sender,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._spec = spec
        self._client = client
        self._send = send
        self._clock = clock
        self._lock = threading.Lock()
        options = spec.options
        self.scope = str(options.get("scope") or DEFAULT_SCOPE).strip()
        self.auth_url = str(options.get("auth_url") or DEFAULT_AUTH_URL).strip()
        credentials = spec.secret("credentials")
        self._key = normalize_authorization_key(credentials) if credentials else None
        self._user = spec.secret("user")
        self._password = spec.secret("password")
        static = spec.secret("access_token")
        self._token: str | None = static.strip() if static else None
        # a token given as is has no known expiry: use it until the server says otherwise
        self._expires_at = math.inf if self._token else 0.0
        self._store_key = self._make_store_key()

    # --- what the provider calls

    @property
    def can_refresh(self) -> bool:
        return bool(self._key or (self._user and self._password))

    def token(self, deadline: Any = None) -> str:
        """A token that will stay valid for at least the refresh margin."""
        with self._lock:
            if self._token and self._usable(self._expires_at):
                return self._token
            cached = self._load_cached()
            if cached is not None:
                self._token, self._expires_at = cached
                return cached[0]
            return self._fetch(deadline)

    def refresh(self, rejected: str, deadline: Any = None) -> str:
        """The server refused `rejected`: forget it and get another (unless another thread did)."""
        with self._lock:
            if self._token and self._token != rejected and self._usable(self._expires_at):
                return self._token
            self._forget()
            return self._fetch(deadline)

    def rejected(self, error: ProviderError, *, after_refresh: bool) -> AuthError:
        """The error to show when the API keeps answering 401 and nothing more can be done."""
        reason = error.message.removeprefix(f"{self._spec.name}: ") if error.message else ""
        detail = f" ({reason})" if reason else ""
        if after_refresh:
            return AuthError(
                f"GigaChat rejected a freshly issued access token{detail}",
                hint="the key is accepted by OAuth but not by the API: check that providers.gigachat.scope "
                "matches your key and that base_url and auth_url belong to the same GigaChat installation",
                provider=self._spec.name, status_code=error.status_code, request_id=error.request_id,
            )
        return AuthError(
            f"GigaChat rejected the access token from GIGACHAT_ACCESS_TOKEN{detail}",
            hint=STATIC_TOKEN_HINT,
            provider=self._spec.name, status_code=error.status_code, request_id=error.request_id,
        )

    # --- cache

    def _usable(self, expires_at: float) -> bool:
        return expires_at - REFRESH_MARGIN_SECONDS > self._clock()

    def _make_store_key(self) -> str | None:
        if self._key:
            return f"gigachat:{self.scope}:{_digest(self.auth_url, self._key)}"
        if self._user and self._password:
            return f"gigachat:user:{_digest(self._spec.base_url, self._user, self._password)}"
        return None

    def _load_cached(self) -> tuple[str, float] | None:
        if self._store_key is None:
            return None
        try:
            cached = self._spec.token_store.load(self._store_key)
        except Exception as exc:  # noqa: BLE001 - a broken keyring must not stop a request
            log.debug("gigachat: token cache unreadable (%s)", type(exc).__name__)
            return None
        if cached and cached[0] and self._usable(float(cached[1])):
            return cached[0], float(cached[1])
        return None

    def _forget(self) -> None:
        self._token, self._expires_at = None, 0.0
        if self._store_key is not None:
            try:
                self._spec.token_store.clear(self._store_key)
            except Exception as exc:  # noqa: BLE001 - the cache is an optimisation
                log.debug("gigachat: token cache not cleared (%s)", type(exc).__name__)

    def _remember(self, token: str, expires_at: float) -> str:
        self._token, self._expires_at = token, expires_at
        if self._store_key is not None:
            try:
                self._spec.token_store.save(self._store_key, token, expires_at)
            except Exception as exc:  # noqa: BLE001 - the cache is an optimisation
                log.debug("gigachat: token cache not written (%s)", type(exc).__name__)
        return token

    # --- fetching (called with the lock held)

    def _fetch(self, deadline: Any) -> str:
        if self._key:
            return self._fetch_oauth(deadline)
        if self._user and self._password:
            return self._fetch_with_password(deadline)
        if self._token:  # a static token that was rejected, and nothing to renew it with
            raise AuthError("GigaChat rejected the access token from GIGACHAT_ACCESS_TOKEN",
                            hint=STATIC_TOKEN_HINT, provider=self._spec.name, status_code=401)
        raise CredentialsError("no GigaChat authorization key", hint=KEY_HINT)

    def _fetch_oauth(self, deadline: Any) -> str:
        request = self._client.build_request(
            "POST",
            self.auth_url,
            data={"scope": self.scope},
            headers={
                "Authorization": f"Basic {self._key}",
                "RqUID": str(uuid.uuid4()),  # required, a fresh uuid4 for every call
                "Accept": "application/json",
            },
        )
        seen: dict[str, Any] = {}

        def parse(response: httpx.Response) -> str | None:
            seen.update(_error_body(response))
            message = seen.get("message")
            return str(message) if message else None

        started = self._clock()
        try:
            response = self._send(request, parse, deadline)
        except ProviderError as error:
            raise self._explain_oauth_error(error, seen) from error
        log.debug("gigachat: new access token from %s (scope %s)", self.auth_url, self.scope)
        return self._accept(response, started)

    def _fetch_with_password(self, deadline: Any) -> str:
        basic = base64.b64encode(f"{self._user}:{self._password}".encode()).decode("ascii")
        request = self._client.build_request(
            "POST",
            self._spec.base_url.rstrip("/") + "/token",
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )
        started = self._clock()
        try:
            response = self._send(request, lambda r: _error_body(r).get("message"), deadline)
        except AuthError as error:
            raise AuthError(
                "GigaChat rejected the user name or password",
                hint="check GIGACHAT_USER and GIGACHAT_PASSWORD, or use GIGACHAT_CREDENTIALS instead",
                provider=self._spec.name, status_code=error.status_code,
            ) from error
        return self._accept(response, started)

    def _accept(self, response: httpx.Response, started: float) -> str:
        body = _error_body(response)
        token = body.get("access_token") or body.get("tok")
        if not token or not isinstance(token, str):
            raise ProviderUnavailable(
                "GigaChat's token endpoint answered without an access token",
                hint="check that auth_url points at GigaChat's OAuth endpoint",
                provider=self._spec.name,
            )
        expiry = body.get("expires_at", body.get("exp"))
        return self._remember(token, expiry_to_epoch_seconds(expiry, started))

    def _explain_oauth_error(self, error: ProviderError, body: dict[str, Any]) -> LlmcliError:
        code = body.get("code")
        message = str(body.get("message") or error.message or "")
        lowered = message.lower()
        status = error.status_code
        if status == 400 and (code in (1, 5) or "scope" in lowered) and code != 7:
            return ConfigError(
                f"GigaChat does not accept the scope {self.scope!r}: {message}",
                hint="set providers.gigachat.scope to one of " + ", ".join(SCOPES),
            )
        if code == 7 or (status in (400, 401, 403) and "scope" in lowered):
            return AuthError(
                f"the GigaChat authorization key does not cover the scope {self.scope}: {message}",
                hint=scope_hint(self.scope), provider=self._spec.name, status_code=status,
            )
        if status in (401, 403) or code in (4, 6):
            return AuthError(
                f"GigaChat rejected the authorization key: {message or 'unauthorized'}",
                hint=KEY_HINT, provider=self._spec.name, status_code=status,
            )
        return error

