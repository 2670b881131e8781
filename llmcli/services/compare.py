"""`ask -p gigachat,yandexgpt`: the same prompt to several providers at once.

Each provider gets a normal turn (ChatService.start_turn: its own context, its own conversation, saved
as usual), streamed in its own thread, so the whole run takes about as long as the slowest provider.
Outcomes come back in the order the providers were named, each as soon as it and those before it are
done. Afterwards the conversations are linked: the first provider's is the parent of the others.

Threads are daemons: on Ctrl-C the workers are asked to stop (each saves its partial reply, marked
interrupted, at its next chunk) and are given a moment to do so; for one stuck in a silent network
read, the main thread saves what that turn has received so far (Turn.abandon) and leaves the thread
behind rather than holding the terminal.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmcli.errors import LlmcliError, UsageError

if TYPE_CHECKING:
    from llmcli.services.chat import ChatService, Turn, TurnRequest, TurnResult

CANCEL_GRACE_SECONDS = 2.0  # how long Ctrl-C waits for workers to save their partial replies


@dataclass
class CompareOutcome:
    provider: str
    model: str | None
    result: TurnResult | None = None  # None when the turn could not even start (e.g. no key)
    error: LlmcliError | None = None

    @property
    def answered(self) -> bool:
        return self.error is None and self.result is not None

    def to_json(self) -> dict[str, Any]:
        result = self.result
        error = None
        if self.error is not None:
            error = {"type": type(self.error).__name__, "message": self.error.message,
                     "hint": self.error.hint, "exit_code": self.error.exit_code}
        return {
            "provider": self.provider,
            "model": (result.server_model or result.model) if result else self.model,
            "text": result.text if result else "",
            "usage": result.usage.to_dict() if result and result.usage else None,
            "latency_ms": result.latency_ms if result else None,
            "error": error,
            "conversation_id": result.conversation_id if result else None,
            "message_id": result.message_id if result else None,
            "finish_reason": result.finish_reason if result else None,
        }


def exit_code(outcomes: Sequence[CompareOutcome]) -> int:
    """0 if any provider answered, else the highest exit code among the errors."""
    if any(o.answered for o in outcomes):
        return 0
    return max((o.error.exit_code for o in outcomes if o.error is not None), default=1)


class _Worker:
    def __init__(self, outcome: CompareOutcome, turn: Turn | None, cancel: threading.Event) -> None:
        self.outcome = outcome
        self.turn = turn
        self.done = threading.Event()
        self._cancel = cancel
        self.thread = threading.Thread(target=self._run, name=f"compare-{outcome.provider}", daemon=True)

    def _run(self) -> None:
        try:
            if self.turn is None:
                return
            chunks = self.turn.chunks()
            try:
                for _ in chunks:
                    if self._cancel.is_set():
                        break
            finally:
                chunks.close()  # after a cancel: saved now, marked interrupted
            self.outcome.result = self.turn.result
        except LlmcliError as exc:
            self.outcome.result, self.outcome.error = self.turn.result, exc
        except Exception as exc:  # noqa: BLE001 - one provider's bug must not hide the others' answers
            self.outcome.error = LlmcliError(f"unexpected error: {type(exc).__name__}: {exc}",
                                             hint="this is a bug in llmcli; run with --debug and report it")
        finally:
            self.done.set()


class Comparison:
    """Start with `start()` (resolves every provider first), then iterate `outcomes()`."""

    def __init__(self, service: ChatService, requests: Sequence[TurnRequest]) -> None:
        if len(requests) < 2:
            raise UsageError("compare needs at least two providers, e.g. -p gigachat,yandexgpt")
        if any(r.continue_last or r.conversation for r in requests):
            raise UsageError("compare starts new conversations (one per provider); -c/--conversation "
                             "cannot be combined with several providers")
        self.service = service
        self.requests = list(requests)
        self._cancel = threading.Event()
        self._workers: list[_Worker] = []

    def start(self) -> Comparison:
        """Resolve each provider and model (usage errors stop everything before any request), then
        stream all turns concurrently. A provider without usable credentials becomes an error outcome."""
        turns: list[tuple[CompareOutcome, Turn | None]] = []
        for request in self.requests:
            outcome = CompareOutcome(request.provider or "?", request.model)
            turn = None
            try:
                turn = self.service.start_turn(request)
                outcome.model = turn.model
            except UsageError:
                raise
            except LlmcliError as exc:
                outcome.error = exc
            turns.append((outcome, turn))
        self._workers = [_Worker(outcome, turn, self._cancel) for outcome, turn in turns]
        for worker in self._workers:
            worker.thread.start()
        return self

    def outcomes(self) -> Iterator[CompareOutcome]:
        """Outcomes in the order given, each once it (and those before it) finished."""
        try:
            for worker in self._workers:
                while not worker.done.wait(0.1):  # short waits keep Ctrl-C responsive
                    pass
                yield worker.outcome
        except BaseException as exc:
            self.cancel(exc)
            raise

    def cancel(self, why: BaseException | None = None) -> None:
        """Stop every worker; after a short grace, save the partial reply of any that did not stop."""
        from llmcli.services.turn import interruption_reason

        self._cancel.set()
        for worker in self._workers:
            worker.done.wait(CANCEL_GRACE_SECONDS / max(len(self._workers), 1))
        reason = interruption_reason(why if why is not None else KeyboardInterrupt())
        for worker in self._workers:
            if not worker.done.is_set() and worker.turn is not None:
                worker.turn.abandon(reason)

    def link_conversations(self) -> str | None:
        """Make the first saved conversation the parent of the others. A warning on failure, else None."""
        saved = [w.outcome.result.conversation_id for w in self._workers
                 if w.outcome.result is not None and w.outcome.result.saved]
        if len(saved) < 2:
            return None
        from llmcli.services.recorder import open_store_now

        try:
            store = open_store_now()
            try:
                store.link_conversations(saved[0], saved[1:])
            finally:
                store.close()
        except LlmcliError as exc:
            return f"the compared conversations were saved but not linked: {exc.message}"
        return None
