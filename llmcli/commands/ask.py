"""`llmcli ask`: one prompt, one streamed reply. Pipe-friendly: stdout carries the reply only.

Also: a role (-r), attached files (-f), only the reply's code block (-x/--xl), several providers at
once (-p a,b) and a fallback chain (--fallback). Output helpers live in ask_output.py.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, List, Optional

import typer

from llmcli import console
from llmcli.commands import ask_output
from llmcli.commands.options import parse_options
from llmcli.completion import complete_model, complete_provider
from llmcli.errors import UsageError

if TYPE_CHECKING:
    from llmcli.config import Settings
    from llmcli.services.chat import ChatService, Turn, TurnRequest
    from llmcli.services.fallback import FallbackTurn
    from llmcli.services.roles import Role
    from llmcli.services.targets import Target

EPILOG = """Examples:

\b
  llmcli ask "What is the capital of France?"
  git diff | llmcli ask "write a commit message"
  git diff --staged | llmcli ask -r commit
  llmcli ask -f app.py -f test_app.py "why does the test fail?"
  python3 -c "$(llmcli ask -x 'python one-liner: print the current UTC time')"
  llmcli ask -p gigachat,yandexgpt --json "Привет"
  llmcli ask -p gigachat --fallback yandexgpt "Привет"
  llmcli ask -c "and in one sentence?"
"""

COMMAND_SETTINGS = {"help": "Ask one question; the reply streams to stdout.", "epilog": EPILOG}


def command(
    prompt: Optional[List[str]] = typer.Argument(None, help="The prompt; piped stdin is appended after a blank line."),
    provider: Optional[str] = typer.Option(None, "-p", "--provider", help="Provider name (see `llmcli providers list`); several, comma-separated, to compare: -p gigachat,yandexgpt (NAME:MODEL picks a model).", autocompletion=complete_provider),
    model: Optional[str] = typer.Option(None, "-m", "--model", help="Model id or alias.", autocompletion=complete_model),
    system: Optional[str] = typer.Option(None, "-s", "--system", help="System prompt (beats the role's)."),
    role: Optional[str] = typer.Option(None, "-r", "--role", help="Use a role: a saved system prompt and settings (see `llmcli roles list`)."),
    file: Optional[List[str]] = typer.Option(None, "-f", "--file", metavar="PATH", help="Attach a text file, fenced and labelled with its name (repeatable; - is stdin)."),
    temperature: Optional[float] = typer.Option(None, "-t", "--temperature", min=0.0, max=2.0, help="Sampling temperature."),
    top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0, help="Nucleus sampling."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Longest reply, in tokens."),
    option: Optional[List[str]] = typer.Option(None, "-o", "--option", metavar="KEY=VALUE", help="Provider-specific option, e.g. -o repetition_penalty=1.1 (GigaChat), -o reasoning=on (YandexGPT)."),
    extract_first: bool = typer.Option(False, "-x", "--extract", help="Print only the first fenced code block of the reply (the whole reply is still saved)."),
    extract_last: bool = typer.Option(False, "--xl", "--extract-last", help="Print only the last fenced code block of the reply."),
    fallback: Optional[str] = typer.Option(None, "--fallback", metavar="P2[,P3]", help="If the provider fails before any output (unreachable, rate-limited, auth), ask these next. Default: `fallback` in config.", autocompletion=complete_provider),
    no_fallback: bool = typer.Option(False, "--no-fallback", help="Ignore the configured fallback providers."),
    no_stream: bool = typer.Option(False, "--no-stream", help="Wait for the whole reply, then print it."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object with the reply, usage and ids (one line per provider when comparing)."),
    continue_last: bool = typer.Option(False, "-c", "--continue", help="Continue the most recent conversation."),
    conversation: Optional[str] = typer.Option(None, "--conversation", metavar="ID", help="Continue this conversation (id or unique prefix)."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not save this exchange to history."),
    usage: bool = typer.Option(False, "-u", "--usage", help="Print token usage and latency to stderr."),
) -> None:
    from llmcli.config import load_settings
    from llmcli.services.attachments import prompt_inputs
    from llmcli.services.chat import ChatService, TurnRequest
    from llmcli.services.roles import apply_role, get_role, role_prompt
    from llmcli.services.targets import parse_targets

    if extract_first and extract_last:
        raise UsageError("-x and --xl exclude each other: pick the first or the last code block")
    if fallback is not None and no_fallback:
        raise UsageError("--fallback and --no-fallback exclude each other")
    extract = "first" if extract_first else "last" if extract_last else None
    targets = parse_targets(provider) if provider else []
    if len(targets) > 1 and (model or fallback):
        raise UsageError(f"{'-m' if model else '--fallback'} cannot be combined with several providers",
                         hint="pick models per provider: -p openai:gpt-4o,gigachat:GigaChat-2-Max")
    settings = load_settings()
    chosen_role = get_role(settings, role) if role else None
    piped = read_stdin(settings.max_input_bytes)
    inputs = prompt_inputs(file or [], piped, limit=settings.max_input_bytes)
    text, system_prompt = role_prompt(chosen_role, " ".join(prompt) if prompt else None, inputs, system=system)
    request = TurnRequest(
        prompt=text, model=model, system=system_prompt, temperature=temperature,
        top_p=top_p, max_tokens=max_tokens, extra=parse_options(option or []), stream=not no_stream,
        conversation=conversation, continue_last=continue_last, log=not no_log,
    )
    if len(targets) == 1:
        request.provider, request.model = targets[0].provider, _one_model(targets[0].model, model)
    if chosen_role is not None and len(targets) <= 1:
        request = apply_role(request, chosen_role)
    service = ChatService(settings)
    if len(targets) > 1:
        _compare(service, request, targets, chosen_role, as_json=json_output or not console.stdout_is_tty(),
                 show_usage=usage, extract=extract)
        return
    turn = _start(service, settings, request, chosen_role, fallback=fallback, use_config=not no_fallback)
    if json_output:
        ask_output.consume(turn.chunks())
        console.print_json(ask_output.with_code(turn.result.to_json(), extract))
    elif extract is not None:
        ask_output.consume(turn.chunks())  # stream nothing until the block is known
        ask_output.render_code(turn.result.text, last=extract == "last")
    else:
        ask_output.render_reply(turn.chunks(), buffered=no_stream)
    ask_output.report(turn.result, show_usage=usage, answered_by=getattr(turn, "answered_by", None))


def _one_model(from_target: str | None, from_flag: str | None) -> str | None:
    if from_target and from_flag:
        raise UsageError("the model is given twice: in -p NAME:MODEL and in -m", hint="keep one of them")
    return from_target or from_flag


def _start(service: ChatService, settings: Settings, request: TurnRequest, role: Role | None, *,
           fallback: str | None, use_config: bool) -> Turn | FallbackTurn:
    """A plain turn, or one that moves on to the fallback providers when the first fails early."""
    from llmcli.services.fallback import fallback_chain, fallback_targets, start_with_fallback

    fallbacks = fallback_targets(settings, fallback, use_config=use_config)
    chain = fallback_chain(request, fallbacks, settings=settings, role=role) if fallbacks else [request]
    if len(chain) == 1:
        return service.start_turn(request)
    return start_with_fallback(service, chain, on_switch=ask_output.fallback_notice)


def _compare(service: ChatService, request: TurnRequest, targets: list[Target], role: Role | None, *,
             as_json: bool, show_usage: bool, extract: str | None) -> None:
    from llmcli.services.compare import Comparison, exit_code
    from llmcli.services.targets import request_for

    comparison = Comparison(service, [request_for(request, t, role) for t in targets]).start()
    shown = ask_output.render_comparison(comparison.outcomes(), as_json=as_json, show_usage=show_usage,
                                         extract=extract)
    warning = comparison.link_conversations()
    if warning:
        console.warn(warning)
    code = exit_code(shown)
    if code:
        raise typer.Exit(code)


def build_prompt(words: list[str], piped: str | None) -> str:
    """PROMPT words, then piped stdin after a blank line (DESIGN.md §7)."""
    from llmcli.services.roles import join_prompt

    return join_prompt(" ".join(words) if words else None, [piped] if piped else [])


def read_stdin(limit: int) -> str | None:
    """Piped stdin as UTF-8, refused early (bounded memory) when larger than `limit` bytes."""
    stream = sys.stdin
    if stream is None or stream.closed or stream.isatty():
        return None
    raw = stream.buffer.read(limit + 1) if hasattr(stream, "buffer") else stream.read(limit + 1).encode()
    if len(raw) > limit:
        from llmcli.services.attachments import size_text

        raise UsageError(
            f"input is larger than {size_text(limit)}",
            hint="split it, or raise the cap with `llmcli config set max_input_bytes N`",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"stdin is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            hint="convert it first, e.g. `iconv -f cp1251 -t utf-8 file | llmcli ask …`",
        ) from None
