"""The fault matrix: every fault llmcli is tested against, what it must exit with, what the user sees
and what history keeps. Pure data (plus the few lines that inject each fault).

The suite runs these rows (tests/e2e/faults/test_*.py parametrize over them; the storage, bad-input
and load rows are looked up by id in tests/e2e/test_*.py) and scripts/fault_matrix.py renders the
same rows into docs/reliability.md — so the table cannot say anything the suite does not check.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from tests.fakes.base import Fault

if TYPE_CHECKING:
    from tests.e2e.faults.targets import Target

KINDS = ("openai", "gigachat", "yandexgpt")
TOKEN_KINDS = ("gigachat", "yandexgpt")  # short-lived tokens obtained from a long-lived key

# What the `stored` column says, by the shape of the assistant row the checks expect.
STORED = {
    "complete": "question + complete reply",
    "partial": "question + the printed part of the reply, `complete: false`, finish_reason `error`",
    "error": "question + empty reply row, `complete: false`, finish_reason `error` (counted in `history stats`)",
}


@dataclass(frozen=True)
class Case:
    """One row. Network rows carry `arrange` (inject the fault, return config overrides)."""

    id: str
    area: str  # network | auth | signals | storage | input | load
    fault: str
    exit_code: int | str
    user_sees: str
    stored: str
    kinds: tuple[str, ...] = KINDS
    arrange: Callable[[Target], dict[str, Any] | None] | None = field(default=None, compare=False)
    stdout: str = "none"  # none | reply | partial
    saved: str = "error"  # complete | partial | error (the assistant row)
    says: tuple[str, ...] = ()  # lower-case pieces the stderr must contain
    # how many chat requests the server may see: an int, or (min, max)
    requests: Callable[[Target], int | tuple[int, int]] | None = field(default=None, compare=False)

    def runs_on(self, kind: str) -> bool:
        return kind in self.kinds


PARTIAL = 5  # "a reset after 5 chunks prints those 5 chunks once"


# --- fault builders that speak each vendor's error shape ---------------------------------------


def _error_body(kind: str, status: int, message: str) -> dict[str, Any]:
    if kind == "gigachat":
        return {"status": status, "message": message}
    if kind == "yandexgpt":
        from tests.fakes.yandex_server import error_body

        return error_body(status, message)
    return {"error": {"message": message, "type": "error", "code": status}}


def status_fault(t: Target, status: int, message: str, *, retry_after: str | None = None) -> Fault:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Fault.json(status, _error_body(t.kind, status, message), headers=headers, path=t.chat_path)


@cache
def closed_port() -> int:
    """A port nothing listens on: bound (so nobody else gets it) but never listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    closed_port.sock = sock  # type: ignore[attr-defined]  # kept open for the whole session
    return sock.getsockname()[1]


def _every_attempt(t: Target, fault: Callable[[], Fault]) -> None:
    t.server.inject(*(fault() for _ in range(t.max_retries + 1)))


def _refused(t: Target) -> dict[str, Any]:
    dead = f"https://127.0.0.1:{closed_port()}"
    return {"openai": {"base_url": dead + "/v1"},
            "gigachat": {"base_url": dead + "/api/v1", "auth_url": dead + "/api/v2/oauth"},
            "yandexgpt": {"base_url": dead, "iam_url": dead + "/iam/v1/tokens"}}[t.kind]


def _expired_token(t: Target) -> None:
    first = t.ask("a first question, to cache a token")
    assert first.returncode == 0, first.stderr
    t.expire_token()


def _wrong_ca(t: Target) -> dict[str, Any]:
    from tests.fakes.tls import wrong_ca

    return {"ca_bundle": wrong_ca().ca_pem_path}


def _all(t: Target) -> int:
    return t.max_retries + 1


# --- the rows --------------------------------------------------------------------------------------

NETWORK: tuple[Case, ...] = (
    Case("429-every-attempt", "network", "429 with `Retry-After: 0` on every attempt", 5,
         "after the retries, `error: <provider>: HTTP 429 from <host>: <server's message>` + a hint about "
         "rate limits; nothing on stdout", STORED["error"],
         arrange=lambda t: _every_attempt(t, lambda: status_fault(t, 429, "Too many requests", retry_after="0")),
         says=("http 429", "hint:"), requests=_all),
    Case("429-once-no-retry-after", "network", "one 429 without `Retry-After`", 0,
         "the whole reply, once (the retry waited a jittered backoff)", STORED["complete"],
         arrange=lambda t: t.server.inject(status_fault(t, 429, "Too many requests")),
         stdout="reply", saved="complete", requests=lambda t: 2),
    Case("429-retry-after-past-deadline", "network", "429 with `Retry-After: 120`, longer than the deadline", 5,
         "the same error at once (1 request): waiting would outlast the deadline", STORED["error"],
         arrange=lambda t: t.server.inject(status_fault(t, 429, "Too many requests", retry_after="120")),
         says=("http 429",), requests=lambda t: 1),
    *(
        Case(f"http-{status}-html", "network", f"HTTP {status} with an HTML page, every attempt", 6,
             f"after the retries, `error: <provider>: HTTP {status} from <host>: {title}` — the page's "
             "title, never the HTML — + `hint: the server is failing or overloaded (llmcli retried N times); "
             "try again later, or let another provider answer: --fallback <other>`", STORED["error"],
             arrange=lambda t, s=status, title=title: _every_attempt(
                 t, lambda: Fault.html(s, title, headers={"Retry-After": "0"}, path=t.chat_path)),
             says=(f"http {status}", title.lower(), "hint: the server is failing or overloaded (llmcli retried",
                   "--fallback"), requests=_all)
        for status, title in ((500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable"))
    ),
    Case("http-503-once", "network", "one HTTP 503 (HTML), then the server recovers", 0,
         "the whole reply, once", STORED["complete"],
         arrange=lambda t: t.server.inject(Fault.html(503, "Service Unavailable", path=t.chat_path)),
         stdout="reply", saved="complete", requests=lambda t: 2),
    Case("connection-refused", "network", "connection refused (nothing listening)", 6,
         "after the retries, `error: <provider>: cannot connect to <host:port> (…)` + a hint to check "
         "base_url and the proxy", STORED["error"],
         arrange=_refused, says=("cannot connect", "base_url"), requests=lambda t: 0),
    Case("reset-before-first-byte-once", "network", "TCP reset before the first byte, once", 0,
         "the whole reply, once (retried: nothing had been shown)", STORED["complete"],
         arrange=lambda t: t.server.inject(Fault.reset(path=t.chat_path)),
         stdout="reply", saved="complete", requests=lambda t: 2),
    Case("reset-before-first-byte-always", "network", "TCP reset before the first byte, every attempt", 6,
         "after the retries (within the deadline), `error: <provider>: the connection to <host> was closed "
         "unexpectedly (…)` + a hint to try again later or let another provider answer (`--fallback`); "
         "nothing on stdout", STORED["error"],
         arrange=lambda t: _every_attempt(t, lambda: Fault.reset(path=t.chat_path)),
         says=("closed unexpectedly", "hint:", "--fallback"),
         requests=lambda t: (2, t.max_retries + 1)),
    Case("reset-after-5-chunks", "network", "TCP reset after 5 chunks of the reply", 7,
         "those 5 chunks, once (never replayed); `error: <provider>: the reply was cut off after 5 chunks: "
         "…` + `hint: the partial reply was kept; …`", STORED["partial"],
         arrange=lambda t: t.server.inject(Fault.reset_after(t.after_content(PARTIAL), path=t.chat_path)),
         stdout="partial", saved="partial", says=("cut off after 5 chunks", "partial reply was kept"),
         requests=lambda t: 1),
    Case("stall-before-first-chunk", "network", "the server goes silent before the first chunk (read timeout 1 s), once", 0,
         "the whole reply, once (retried: nothing had been shown)", STORED["complete"],
         arrange=lambda t: (t.server.inject(Fault.stall(6, after=0, path=t.chat_path)), {"timeout": 1.0})[1],
         stdout="reply", saved="complete", requests=lambda t: 2),
    Case("stall-mid-stream", "network", "the server goes silent after 5 chunks (read timeout 1 s)", 7,
         "the 5 chunks; `error: … the reply was cut off after 5 chunks: no data from <host> within 1 s` + "
         "`hint: the partial reply was kept; …` with how to allow more time "
         "(`llmcli config set providers.<provider>.timeout 2`)", STORED["partial"],
         arrange=lambda t: (t.server.inject(Fault.stall(6, after=t.after_content(PARTIAL), path=t.chat_path)),
                            {"timeout": 1.0})[1],
         stdout="partial", saved="partial",
         says=("cut off after 5 chunks", "within 1 s", "hint: the partial reply was kept",
               "`llmcli config set providers.", ".timeout 2`"), requests=lambda t: 1),
    Case("trickle-from-start", "network", "one byte a second from the start (each read within the 2.5 s read timeout)", 6,
         "`error: <provider>: no complete answer from <host> within 3 s` when the deadline fires + a hint "
         "naming the setting (`llmcli config set providers.<provider>.deadline 6`); nothing on stdout",
         STORED["error"],
         arrange=lambda t: (t.server.inject(Fault.trickle(1.0, after=0, max_seconds=20, path=t.chat_path)),
                            {"deadline": 3.0})[1],
         says=("no complete answer", "within 3 s", "hint:", "`llmcli config set providers.", ".deadline 6`"),
         requests=lambda t: 1),
    Case("trickle-mid-stream", "network", "one byte a second after 5 chunks", 7,
         "the 5 chunks; `error: … cut off after 5 chunks: no complete answer … within 3 s` + `hint: the "
         "partial reply was kept; …` with how to allow more time (`… providers.<provider>.deadline 6`)",
         STORED["partial"],
         arrange=lambda t: (t.server.inject(Fault.trickle(1.0, after=t.after_content(PARTIAL), max_seconds=20,
                                                          path=t.chat_path)), {"deadline": 3.0})[1],
         stdout="partial", saved="partial",
         says=("cut off after 5 chunks", "within 3 s", "hint: the partial reply was kept", ".deadline 6`"),
         requests=lambda t: 1),
    Case("json-200-instead-of-stream", "network", "HTTP 200 with a JSON body that is not a reply, where a stream was due", 6,
         "`error: …` that the answer is not a chat completion / not the stream that was due; never an "
         "empty success", STORED["error"],
         arrange=lambda t: t.server.inject(Fault.json(200, {"data": [], "note": "not a stream"}, path=t.chat_path)),
         requests=lambda t: 1),
    Case("html-200-instead-of-stream", "network", "HTTP 200 with an HTML page (proxy login), where a stream was due", 6,
         "`error: <provider>: expected <stream type> from <host>, got an HTML page: <title>` + a hint that a "
         "proxy or login page may be answering", STORED["error"],
         arrange=lambda t: t.server.inject(Fault.html(200, "Corporate proxy login", path=t.chat_path)),
         says=("got an html page: corporate proxy login", "proxy"), requests=lambda t: 1),
    Case("malformed-before-output", "network", "a malformed SSE event / NDJSON line before any text", 6,
         "`error: <provider>: malformed event from server: <its first 80 characters>` + a hint that the "
         "server may not speak the protocol of the provider's kind (check base_url and kind); nothing on stdout",
         STORED["error"],
         arrange=lambda t: t.server.inject(Fault.malformed(after=0, path=t.chat_path)),
         says=("malformed event", "hint:", "base_url and kind"),
         requests=lambda t: 1),
    Case("malformed-mid-stream", "network", "a malformed SSE event / NDJSON line after 5 chunks", 7,
         "the 5 chunks; `error: <provider>: malformed event from server: …` + `hint: the partial reply was "
         "kept; …`", STORED["partial"],
         arrange=lambda t: t.server.inject(Fault.malformed(after=t.after_content(PARTIAL), path=t.chat_path)),
         stdout="partial", saved="partial", says=("malformed event", "hint: the partial reply was kept"),
         requests=lambda t: 1),
)

AUTH: tuple[Case, ...] = (
    Case("expired-token", "auth", "the cached access/IAM token expired on the server (mid-batch)", 0,
         "the whole reply, once: the token is renewed once and the call retried", STORED["complete"],
         kinds=TOKEN_KINDS, arrange=_expired_token, stdout="reply", saved="complete",
         requests=lambda t: 3),  # the priming run's, the rejected one, the retry
    Case("401-fresh-token", "auth", "401 even for a freshly issued token / key", 3,
         "`error: … HTTP 401 …` (GigaChat: after one token refresh, \"rejected a freshly issued access "
         "token\") + a hint on what to check", STORED["error"],
         arrange=lambda t: t.server.inject(*(status_fault(t, 401, "The token is invalid") for _ in range(3))),
         says=("401", "hint:"), requests=lambda t: 1 if t.kind == "openai" else 2),
    Case("wrong-ca", "auth", "the server's certificate is issued by a CA not in `ca_bundle`", 6,
         "`error: <provider>: TLS certificate of <host> is not trusted (…)` + a hint to set `ca_bundle` "
         "(GigaChat: where to get the Russian Trusted Root CA)", STORED["error"],
         arrange=_wrong_ca, says=("certificate", "is not trusted", "ca_bundle"), requests=lambda t: 0),
)

SIGNALS: tuple[Case, ...] = (
    Case("sigint-mid-stream", "signals", "Ctrl-C (SIGINT) while the reply streams", 130,
         "what had arrived; `error: interrupted`",
         "question + the printed part, `complete: false`, finish_reason `interrupted`"),
    Case("sigterm-mid-stream", "signals", "SIGTERM (`timeout`, `xargs`, process managers) while the reply streams", 143,
         "what had arrived; `error: terminated`",
         "question + the printed part, `complete: false`, finish_reason `interrupted`"),
    Case("sighup-mid-stream", "signals", "SIGHUP (the terminal was closed: ssh dropped, tab closed; not on Windows) "
         "while the reply streams", 129,
         "what had arrived; `error: terminated (SIGHUP)`",
         "question + the printed part, `complete: false`, finish_reason `interrupted`"),
    Case("stdout-closed", "signals", "stdout closed by the reader (`| head -c 6`)", 141,
         "nothing more; stderr stays empty",
         "question + what was generated so far, `complete: false`, finish_reason `interrupted`"),
    Case("second-ctrl-c-while-saving", "signals", "a second Ctrl-C while the partial reply is being saved", 130,
         "`error: interrupted`; the save finishes first",
         "question + the printed part, `complete: false`, finish_reason `interrupted`", kinds=("openai",)),
)

_STORAGE_FAULTS = (  # id, fault, what the message says (checked, lower case), as shown, failing command
    ("db-not-sqlite", "the history file is not SQLite (random bytes)", "is not a sqlite database",
     "<path> is not a SQLite database", "history list"),
    ("db-truncated", "the history file is truncated", "damaged",
     "<path> is damaged (database disk image is malformed)", "history list"),
    ("db-read-only", "the history database is read-only", "read-only", "<path> is read-only",
     "history delete ID"),
    ("db-locked", "another process holds the history database's write lock past the busy timeout",
     "locked", "<path> stayed locked by another process for N s", "history delete ID"),
)
STORAGE: tuple[Case, ...] = tuple(
    case
    for cid, fault, words, shown, command in _STORAGE_FAULTS
    for case in (
        Case(f"{cid}/ask", "storage", f"{fault} — `ask`", 0,
             f"the reply on stdout; `warning: history not saved: {shown}` + what to do, on stderr",
             "nothing new; what was stored before is untouched", kinds=("openai",), says=(words,)),
        Case(f"{cid}/history", "storage", f"{fault} — `{command}`", 8,
             f"`error: {shown}` + `hint: …`"
             + ("; reading commands (`history list`, `show`) still work" if command != "history list" else ""),
             "nothing; the file is not modified", kinds=("openai",), says=(words,)),
    )
) + (
    Case("db-damaged/doctor", "storage", "a damaged or non-SQLite history file — `llmcli doctor`", 8,
         "one line per check, `FAIL database: <path> …`; `error: …` naming the path",
         "nothing; the file is not modified", kinds=("openai",)),
)

INPUT: tuple[Case, ...] = (
    Case("stdin-invalid-utf8", "input", "invalid UTF-8 on stdin", 2,
         "`error: stdin is not valid UTF-8 (byte 0xe9 at offset 3)` + an iconv hint", "nothing; no request sent",
         kinds=KINDS),
    Case("stdin-50mb", "input", "50 MB on stdin (default cap 2 MiB)", 2,
         "`error: input is larger than 2 MiB` at once; memory stays bounded", "nothing; no request sent",
         kinds=("openai",)),
    Case("empty-prompt", "input", "an empty prompt (no words, blank stdin)", 2,
         "`error: empty prompt …` + an example", "nothing; no request sent", kinds=KINDS),
    Case("unknown-provider", "input", "`-p` names an unknown provider", 2,
         "`error: unknown provider 'x'` + the known names", "nothing; no request sent", kinds=("openai",)),
    Case("unknown-model", "input", "`-m` names a model missing from the cached model list", 2,
         "`error: no such model X for P` + did-you-mean or the known models, and how to refresh the list", "nothing; no request sent",
         kinds=KINDS),
    Case("config-malformed", "input", "`config.toml` is not valid TOML", 2,
         "`error: config error in <path>, line L, column C: …` (the line is not echoed)", "nothing; no request sent",
         kinds=("openai",)),
    Case("config-wrong-type", "input", "a config key of the wrong type (`timeout = \"soon\"`)", 2,
         "`error: config error in <path>: … timeout …` (the value is not echoed)", "nothing; no request sent",
         kinds=("openai",)),
    Case("bad-temperature", "input", "`--temperature 7` (allowed 0–2)", 2,
         "typer's usage error: `Error: Invalid value for '-t' / '--temperature': …less than or equal to 2`", "nothing; no request sent", kinds=KINDS),
)

LOAD: tuple[Case, ...] = (
    Case("32-parallel-asks", "load", "32 `ask` processes at once on a fresh home (migrations racing)", 0,
         "each its own reply", "32 conversations, 64 messages, no duplicates, none lost"),
    Case("yandex-concurrency-cap", "load", "the same 32 against YandexGPT allowing 10 concurrent generations", 0,
         "each its own reply; the 429s are absorbed by backoff", "32 conversations, 64 messages",
         kinds=("yandexgpt",)),
)

CASES: tuple[Case, ...] = NETWORK + AUTH + SIGNALS + STORAGE + INPUT + LOAD
BY_ID: dict[str, Case] = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"


def case(case_id: str) -> Case:
    return BY_ID[case_id]


def cases(*areas: str) -> list[Case]:
    return [c for c in CASES if c.area in areas]
