"""YandexGPT credentials → request headers (protocols.md §2.2).

In order of preference: an API key (`Api-Key`), an IAM token (`Bearer`), an OAuth token exchanged
at the IAM endpoint for an IAM token, or a service-account authorized key file (a PS256 JWT
exchanged for an IAM token; needs the optional `cryptography` package). Exchanged tokens are cached
in the TokenStore across invocations and renewed hourly, or earlier when expiresAt comes close.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from llmcli.errors import AuthError, ConfigError, CredentialsError, ProviderError, RequestRejected
from llmcli.providers.base import ProviderSpec
from llmcli.providers.http import Deadline, RetryPolicy, send
from llmcli.providers.yandex_wire import error_message

log = logging.getLogger("llmcli")

IAM_URL = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
REFRESH_PERIOD = 3600.0  # Yandex recommends a new IAM token every hour (it lives up to 12 h)
EXPIRY_MARGIN = 300.0  # never use a token this close to its expiresAt
JWT_LIFETIME = 3600  # the longest a service-account JWT may live

MISSING_HINT = (
    "export YC_API_KEY=… (a service-account API key), or YC_IAM_TOKEN / YC_OAUTH_TOKEN, "
    "or run `llmcli keys set yandexgpt`"
)
OAUTH_HINT = (
    "get a new OAuth token at https://oauth.yandex.ru/authorize?response_type=token"
    "&client_id=1a6990aa636648e9b2ef855fa7bec2fb and export YC_OAUTH_TOKEN=…"
)

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_rfc3339(value: str) -> float:
    """`2025-01-01T12:00:00.123456789Z` → epoch seconds (Python 3.10 parses neither Z nor ns)."""
    match = _RFC3339.match(value.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    base, fraction, zone = match.groups()
    moment = datetime.fromisoformat(base + ("" if not zone or zone == "Z" else zone))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def service_account_jwt(key_file: str, *, audience: str, now: float) -> str:
    """A PS256 JWT for an authorized key file created by `yc iam key create`."""
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
    except ImportError:
        raise ConfigError(
            "a service-account key file needs the `cryptography` package",
            hint="pip install 'llmcli[yandex-sa]' (or pip install cryptography), or use an API key",
        ) from None
    try:
        data = json.loads(Path(key_file).expanduser().read_text(encoding="utf-8"))
        key_id, account, pem = data["id"], data["service_account_id"], data["private_key"]
        # `yc` puts a "PLEASE DO NOT REMOVE THIS LINE! ..." line before the PEM block
        pem = pem[pem.index("-----BEGIN"):]
        private_key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"cannot read the service-account key file {key_file}: {type(exc).__name__}",
            hint="create one with `yc iam key create --service-account-name NAME -o key.json`",
        ) from None
    header = {"typ": "JWT", "alg": "PS256", "kid": key_id}
    claims = {"iss": account, "aud": audience, "iat": int(now), "exp": int(now) + JWT_LIFETIME}
    signing_input = (_b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode()))
    signature = private_key.sign(  # type: ignore[union-attr, call-arg]
        signing_input.encode("ascii"),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),  # salt = digest length
        hashes.SHA256(),
    )
    return signing_input + "." + _b64url(signature)


class YandexAuth:
    """Builds the auth headers for one provider spec; renews exchanged IAM tokens."""

    def __init__(self, spec: ProviderSpec, *, clock: Callable[[], float] = time.time) -> None:
        self._spec = spec
        self._clock = clock
        self._iam_url = str(spec.options.get("iam_url") or IAM_URL)
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None  # (IAM token, use-until epoch seconds)
        self.kind = "none"  # api_key | iam_token | oauth_token | service_account_key | none
        self._secret = ""
        for kind in ("api_key", "iam_token", "oauth_token"):
            value = spec.secret(kind)
            if value:
                self.kind, self._secret = kind, value.strip()
                break
        else:
            key_file = spec.options.get("service_account_key_file")
            if key_file:
                self.kind, self._secret = "service_account_key", str(key_file)

    @property
    def renewable(self) -> bool:
        """True when the IAM token is one we exchanged ourselves (so a 401 may mean it went stale)."""
        return self.kind in ("oauth_token", "service_account_key")

    @property
    def user_token(self) -> bool:
        """A user's IAM token needs the x-folder-id header; API keys and SA tokens carry a folder."""
        return self.kind in ("iam_token", "oauth_token")

    def require(self) -> None:
        if self.kind == "none":
            raise CredentialsError(f"no credentials for {self._spec.name}", hint=MISSING_HINT)

    def headers(self, client: httpx.Client, *, policy: RetryPolicy, deadline: Deadline) -> dict[str, str]:
        self.require()
        if self.kind == "api_key":
            return {"Authorization": f"Api-Key {self._secret}"}
        if self.kind == "iam_token":
            return {"Authorization": f"Bearer {self._secret}"}
        return {"Authorization": f"Bearer {self._iam_token(client, policy, deadline, renew=False)}"}

    def renew(self, client: httpx.Client, *, policy: RetryPolicy, deadline: Deadline) -> None:
        """Drop the cached IAM token and exchange a new one (after a 401)."""
        if self.renewable:
            self._iam_token(client, policy, deadline, renew=True)

    # --- exchanged IAM tokens

    @property
    def _store_key(self) -> str:
        # derived from a hash, so neither the OAuth token nor the key path is a store key
        digest = hashlib.sha256(f"{self._iam_url}\n{self._secret}".encode()).hexdigest()[:24]
        return f"{self._spec.name}-iam-{digest}"

    def _iam_token(self, client: httpx.Client, policy: RetryPolicy, deadline: Deadline, *, renew: bool) -> str:
        with self._lock:
            now = self._clock()
            if renew:
                self._token = None
                self._spec.token_store.clear(self._store_key)
            if self._token is None:
                self._token = self._spec.token_store.load(self._store_key)
            if self._token is not None and self._token[1] > now:
                return self._token[0]
            token, use_until = self._exchange(client, policy, deadline, now)
            self._token = (token, use_until)
            self._spec.token_store.save(self._store_key, token, use_until)
            return token

    def _exchange(self, client: httpx.Client, policy: RetryPolicy, deadline: Deadline, now: float) -> tuple[str, float]:
        if self.kind == "oauth_token":
            payload = {"yandexPassportOauthToken": self._secret}
            what, hint = "the OAuth token", OAUTH_HINT
        else:
            payload = {"jwt": service_account_jwt(self._secret, audience=IAM_URL, now=now)}
            what, hint = "the service-account key", "check the key file and that the key is not deleted"
        log.debug("yandexgpt: exchanging %s for an IAM token at %s", what, self._iam_url)
        request = client.build_request("POST", self._iam_url, json=payload)
        try:
            response = send(client, request, provider=self._spec.name, stream=False, policy=policy,
                            deadline=deadline, error_parser=_parse_error)
        except (AuthError, RequestRejected) as exc:  # a bad token is a credentials problem (exit 3)
            raise AuthError(f"the IAM service did not accept {what}: {exc.message}", hint=hint,
                            provider=self._spec.name, status_code=exc.status_code) from None
        try:
            body: Any = response.json()
            token = body["iamToken"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError("the IAM service answered without an iamToken",
                                provider=self._spec.name, status_code=response.status_code) from None
        finally:
            response.close()
        use_until = now + REFRESH_PERIOD
        expires_at = body.get("expiresAt")
        if isinstance(expires_at, str):
            try:
                use_until = min(use_until, parse_rfc3339(expires_at) - EXPIRY_MARGIN)
            except ValueError:
                log.debug("yandexgpt: unreadable expiresAt %r; renewing within the hour", expires_at)
        return token, use_until


def _parse_error(response: httpx.Response) -> str | None:
    try:
        return error_message(response.json())
    except ValueError:
        return None
