"""Guarded access to the OS keyring (reliability.md §1.1).

Only a real OS backend counts: `fail`, `null` and "not recommended" (priority < 1, keyrings.alt
plaintext/encrypted) backends mean "no keyring" unless chosen explicitly via PYTHON_KEYRING_BACKEND or
keyringrc. Every call runs in a daemon thread with a timeout and turns any exception into
KeyringProblem: on a headless box keyring raises instead of returning None, and a locked collection
can wait forever for an unlock prompt. Reasons name the backend or the exception type — never a value.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

SERVICE = "llmcli"
KEYRING_TIMEOUT = 3.0  # seconds; a locked keyring waiting for a GUI prompt must not hang a script
NEVER_USABLE = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")


class KeyringProblem(Exception):
    def __init__(self, reason: str, *, failed: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failed = failed  # True: the keyring errored or hung; False: there is no usable one


_hung_backends: set[int] = set()  # backends that did not answer in time are not asked again


def _backend_name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _priority(backend: Any) -> float:
    try:
        return float(backend.priority)
    except Exception:  # noqa: BLE001 - a backend's priority may itself raise
        return 0.0


def _usable_backend() -> Any:
    """The OS keyring backend to use, or KeyringProblem(failed=False) saying why there is none."""
    import keyring
    import keyring.core

    backend = keyring.get_keyring()
    name = _backend_name(backend)
    if name in NEVER_USABLE:
        raise KeyringProblem(f"no usable OS keyring ({name})", failed=False)
    chained = getattr(backend, "backends", None)
    real = [b for b in chained or [] if _backend_name(b) not in NEVER_USABLE and _priority(b) >= 1]
    if real:  # ChainerBackend: use its best real OS backend, never a plaintext one behind it
        return max(real, key=_priority)
    if chained is not None or _priority(backend) < 1:
        explicit = bool(os.environ.get("PYTHON_KEYRING_BACKEND")) or keyring.core.load_config() is not None
        if not explicit:
            raise KeyringProblem(
                f"keyring backend {name} is not a secure OS keyring (choose it with PYTHON_KEYRING_BACKEND "
                "to use it anyway)",
                failed=False,
            )
    return backend


def keyring_call(action: Callable[[Any], Any]) -> Any:
    """action(backend) in a daemon thread with KEYRING_TIMEOUT; any failure → KeyringProblem."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            backend = _usable_backend()
            box["backend"] = id(backend)
            if id(backend) in _hung_backends:
                raise KeyringProblem("the keyring did not answer earlier in this run", failed=True)
            box["value"] = action(backend)
        except BaseException as exc:  # noqa: BLE001 - NoKeyringError, InitError, EOFError, dbus errors, ...
            box["error"] = exc

    worker = threading.Thread(target=run, name="llmcli-keyring", daemon=True)  # daemon: may never return
    worker.start()
    worker.join(KEYRING_TIMEOUT)
    if worker.is_alive():
        if "backend" in box:
            _hung_backends.add(box["backend"])
        raise KeyringProblem(
            f"the keyring did not answer within {KEYRING_TIMEOUT:g} s (locked, waiting for an unlock prompt?)",
            failed=True,
        )
    error = box.get("error")
    if isinstance(error, KeyringProblem):
        raise error
    if error is not None:
        raise KeyringProblem(f"keyring error: {type(error).__name__}", failed=True) from None
    return box.get("value")


def keyring_status() -> tuple[bool, str]:
    """(usable?, reason): the backend's name when usable, else why not. Probes with a real lookup."""
    try:
        return True, keyring_call(lambda b: (b.get_password(SERVICE, "llmcli-probe"), _backend_name(b))[1])
    except KeyringProblem as problem:
        return False, problem.reason
