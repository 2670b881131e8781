"""`llmcli chat`: an interactive conversation in the terminal (the loop lives in repl_loop.py).

Piped stdin seeds the first message; the chat then goes on from the terminal (/dev/tty), or ends
after that answer when there is no terminal at all.
"""

from __future__ import annotations

from typing import List, Optional

import typer

EPILOG = """\b
Examples:

  llmcli chat

  llmcli chat -p gigachat -s "Отвечай кратко"

  llmcli chat -c                      # continue the last conversation

  cat notes.md | llmcli chat          # discuss a file, then keep chatting

  llmcli chat -r en-ru                # a role: every message is translated

  llmcli chat -f app.py -f test_app.py    # the files are the first message

Inside: /help lists the commands (/provider, /model, /system, /set, /new, /history, /retry,
/save, /usage, /multi, /exit). Enter sends, Alt-Enter adds a line, Ctrl-C stops a reply,
Ctrl-D leaves.
"""

COMMAND_SETTINGS = {"help": "Chat interactively; the conversation is saved as you go.", "epilog": EPILOG}


def command(
    provider: Optional[str] = typer.Option(None, "-p", "--provider", help="Provider name (see `llmcli providers list`)."),
    model: Optional[str] = typer.Option(None, "-m", "--model", help="Model id or alias."),
    system: Optional[str] = typer.Option(None, "-s", "--system", help="System prompt (beats the role's)."),
    role: Optional[str] = typer.Option(None, "-r", "--role", help="Use a role: a saved system prompt and settings (see `llmcli roles list`)."),
    file: Optional[List[str]] = typer.Option(None, "-f", "--file", metavar="PATH", help="Attach a text file to the first message, fenced and labelled (repeatable; - is stdin)."),
    temperature: Optional[float] = typer.Option(None, "-t", "--temperature", min=0.0, max=2.0, help="Sampling temperature."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Longest reply, in tokens."),
    continue_last: bool = typer.Option(False, "-c", "--continue", help="Continue the most recent conversation."),
    conversation: Optional[str] = typer.Option(None, "--conversation", metavar="ID", help="Continue this conversation (id or unique prefix)."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not save this chat to history."),
) -> None:
    from llmcli import console
    from llmcli.commands.repl_loop import ChatRepl, stdin_text
    from llmcli.config import load_settings
    from llmcli.errors import UsageError
    from llmcli.services.attachments import prompt_inputs
    from llmcli.services.roles import chat_opening, get_role, role_defaults
    from llmcli.services.session import ChatSession

    settings = load_settings()
    chosen_role = get_role(settings, role) if role else None
    piped = stdin_text(settings.max_input_bytes)
    inputs = prompt_inputs(file or [], piped, limit=settings.max_input_bytes)
    seed, system = chat_opening(chosen_role, inputs, system=system)
    if chosen_role is not None:
        chosen = role_defaults(chosen_role, provider=provider, model=model, temperature=temperature,
                               max_tokens=max_tokens)
        provider, model = chosen["provider"], chosen["model"]
        temperature, max_tokens = chosen["temperature"], chosen["max_tokens"]
    session = ChatSession(settings, provider=provider, model=model, system=system, temperature=temperature,
                          max_tokens=max_tokens, log=not no_log, open_store=False)  # opened by warm_up
    terminal = None
    try:
        repl = ChatRepl(session)
        terminal = repl.terminal = _open_terminal()
        if terminal is None and seed is None:
            raise UsageError("llmcli chat needs a terminal",
                             hint="in scripts use `llmcli ask` (and `ask -c` to go on)")
        if continue_last or conversation:
            if session.resume(conversation):
                repl.show_recent()
            else:
                console.info("no earlier conversation: starting a new one")
        if seed is not None:
            error = repl.ask(seed)
            if terminal is None:  # a script: the seed was the whole chat
                if error is not None:  # already shown; the script still sees the exit code
                    raise typer.Exit(error.exit_code)
                return
        repl.reader = _reader(session, repl, terminal)
        repl.run()
    finally:
        if terminal is not None:
            terminal.close()
        session.close()


def _open_terminal():  # type: ignore[no-untyped-def]
    from llmcli.commands.repl_input import Terminal

    return Terminal.open()


def _reader(session, repl, terminal):  # type: ignore[no-untyped-def]
    from llmcli.commands.repl_input import PromptReader, ReplCompleter
    from llmcli.paths import get_paths

    completer = ReplCompleter(session.provider_names, session.model_names)
    return PromptReader(terminal, get_paths().repl_history_file, completer, lambda: repl.multiline)
