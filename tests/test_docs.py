"""The generated CLI reference (docs/cli.md) and man page (docs/llmcli.1) match the app, cover every
command and option that `--help` shows, and every command's help carries an example."""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REGENERATE = "run `python scripts/gen_cli_docs.py` and commit the result"


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def _diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(actual.splitlines(), expected.splitlines(), f"committed {name}",
                                 f"generated {name}", lineterm="", n=1)
    return "\n".join(list(lines)[:40])


@pytest.mark.parametrize("name", [gen.MARKDOWN_FILE, gen.MAN_FILE])
def test_generated_file_is_current(name: str) -> None:
    path = DOCS / name
    assert path.exists(), f"docs/{name} is missing: {REGENERATE}"
    expected = gen.render_all()[name]
    actual = path.read_text(encoding="utf-8")
    assert actual == expected, f"docs/{name} is stale: {REGENERATE}\n{_diff(expected, actual, name)}"


def test_a_changed_flag_help_makes_the_reference_stale() -> None:
    command = gen.root_command()
    ask = command.commands["ask"]
    option = next(p for p in ask.params if "--max-tokens" in p.opts)
    option.help = "Longest reply, in tokens (changed)."
    changed = gen.render_markdown(gen.collect(command), gen.exit_codes())

    committed = (DOCS / gen.MARKDOWN_FILE).read_text(encoding="utf-8")
    assert changed != committed
    assert "| `--max-tokens <int range>` | Longest reply, in tokens (changed). [x>=1] |" in changed


def test_check_mode_names_a_stale_file(tmp_path: Path) -> None:
    for name, text in gen.render_all().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert gen.stale(tmp_path) == []

    page = tmp_path / gen.MARKDOWN_FILE
    renamed = page.read_text(encoding="utf-8").replace("--no-stream", "--no-streaming")
    page.write_text(renamed, encoding="utf-8")
    (tmp_path / gen.MAN_FILE).unlink()
    assert sorted(gen.stale(tmp_path)) == sorted([gen.MARKDOWN_FILE, gen.MAN_FILE])


# --- coverage, checked against what --help really prints --------------------------------------------------


def _command_paths() -> list[str]:
    return [doc.path for doc in gen.collect().walk()]


def _help(path: str) -> str:
    from llmcli.app import build_app

    result = CliRunner().invoke(build_app(), [*path.split()[1:], "--help"], prog_name="llmcli")
    assert result.exit_code == 0, result.output
    return result.output


def _section(markdown: str, path: str) -> str:
    match = re.search(rf"^## {re.escape(path)}\n(.*?)(?=^## )", markdown, re.DOTALL | re.MULTILINE)
    assert match, f"docs/cli.md has no section for `{path}`"
    return match.group(1)


@pytest.mark.parametrize("path", _command_paths())
def test_reference_shows_every_option_of_help(path: str) -> None:
    help_text = _help(path)
    section = _section((DOCS / gen.MARKDOWN_FILE).read_text(encoding="utf-8"), path)
    flags = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", help_text.split("Options:", 1)[-1]))
    flags -= {"-", "--"}
    documented = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", section))
    assert flags <= documented, f"{path}: not in docs/cli.md: {sorted(flags - documented)}"
    for sub in re.findall(r"^  (\w[\w-]*)  ", help_text.split("Commands:", 1)[-1], re.MULTILINE) \
            if "Commands:" in help_text else []:
        assert f"## {path} {sub}\n" in (DOCS / gen.MARKDOWN_FILE).read_text(encoding="utf-8")


@pytest.mark.parametrize("path", _command_paths())
def test_help_has_an_example(path: str) -> None:
    """Each --help (root, groups, commands) shows at least one runnable line using that command."""
    example = re.compile(rf"(^|[|(]\s*){re.escape(path)}(\s|\)|$)")
    lines = [line.strip() for line in _help(path).splitlines()]
    assert any(example.search(line) for line in lines), f"`{path} --help` shows no example of `{path}`"
