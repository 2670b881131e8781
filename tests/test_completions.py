"""Shell completion: the generated scripts are current, and -p/-m complete from config and the model
cache without the network and without importing anything heavy."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmcli import completion
from llmcli.app import build_app

ROOT = Path(__file__).resolve().parents[1]
# pydantic itself is not listed: typer ≥ 0.23 coerces every parsed option value with it.
HEAVY = ("httpx", "sqlmodel", "sqlalchemy", "keyring", "pydantic_settings", "rich")


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_completions", ROOT / "scripts" / "gen_completions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_generated_scripts_are_current(shell: str) -> None:
    generator = load_generator()
    path = ROOT / "completions" / generator.TARGETS[shell]
    assert path.exists(), f"{path} is missing: run `python scripts/gen_completions.py`"
    assert path.read_text(encoding="utf-8") == generator.render(shell), \
        f"{path.name} is stale: run `python scripts/gen_completions.py` and commit the result"


def test_zsh_script_can_live_in_fpath() -> None:
    assert (ROOT / "completions" / "_llmcli").read_text(encoding="utf-8").startswith("#compdef llmcli\n")


PROBE = """
import json, os, sys
from llmcli.app import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(os.environ["PROBE_HEAVY"])))
sys.stderr.write("HEAVY=" + json.dumps(heavy) + "\\n")
"""


def complete(words: str, home: Path, shell: str = "bash") -> tuple[list[str], list[str]]:
    """Run llmcli's completion for the command line `words` (cursor at the end); (candidates, heavy)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMCLI_", "_LLMCLI_"))}
    env.update(LLMCLI_HOME=str(home), PROBE_HEAVY=json.dumps(HEAVY), _LLMCLI_COMPLETE=f"complete_{shell}")
    if shell == "bash":
        parts = words.split(" ")
        env.update(COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1))
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    heavy = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")]
    assert heavy, proc.stderr
    return proc.stdout.split(), json.loads(heavy[-1][len("HEAVY="):])


@pytest.mark.parametrize("args", [["providers", "--help"], ["providers", "status", "--help"],
                                  ["models", "list", "--help"], ["history", "--help"],
                                  ["history", "export", "--help"]])
def test_help_of_these_commands_imports_nothing_heavy(args: list[str], llmcli_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMCLI_", "_LLMCLI_"))}
    env.update(LLMCLI_HOME=str(llmcli_home), PROBE_HEAVY=json.dumps(HEAVY))
    code = "import sys; sys.argv = ['llmcli', *%r]\n" % (args,) + PROBE
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "Usage: llmcli" in proc.stdout
    assert proc.stderr.splitlines()[-1] == "HEAVY=[]"


@pytest.fixture
def home(llmcli_home: Path) -> Path:
    llmcli_home.mkdir(parents=True, exist_ok=True)
    (llmcli_home / "config.toml").write_text(
        'default_provider = "my-vllm"\n[aliases]\nfast = "qwen-small"\n'
        '[providers.my-vllm]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8")
    completion.index_models("my-vllm", ["qwen-large", "qwen-small"], "2026-11-26T10:00:00+00:00",
                            "http://127.0.0.1:9/v1")
    completion.index_models("gigachat", ["GigaChat-2", "GigaChat-2-Max"], "2026-11-26T10:00:00+00:00",
                            "https://gigachat.devices.sberbank.ru/api/v1")
    return llmcli_home


def test_provider_names_come_from_builtins_and_config_without_heavy_imports(home: Path) -> None:
    names, heavy = complete("llmcli ask -p ", home)
    assert names == ["gigachat", "local", "my-vllm", "ollama", "openai"] + ["yandexgpt"]
    assert heavy == []
    assert complete("llmcli models list -p gi", home)[0] == ["gigachat"]


def test_the_last_name_of_a_comma_separated_list_is_completed(home: Path) -> None:
    assert complete("llmcli ask -p gigachat,o", home)[0] == ["gigachat,ollama", "gigachat,openai"]
    assert complete("llmcli ask -p gigachat,my-vllm -m Giga", home)[0] == ["GigaChat-2", "GigaChat-2-Max"]


def test_models_of_the_chosen_provider_and_aliases(home: Path) -> None:
    models, heavy = complete("llmcli ask -p gigachat -m Giga", home)
    assert (models, heavy) == (["GigaChat-2", "GigaChat-2-Max"], [])
    default, _ = complete("llmcli ask -m ", home)  # the default provider's models, and the aliases
    assert default == ["fast", "qwen-large", "qwen-small"]


def test_zsh_gets_descriptions(home: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "llmcli"], capture_output=True, text=True, timeout=60, env={
        **os.environ, "LLMCLI_HOME": str(home), "_LLMCLI_COMPLETE": "complete_zsh",
        "_TYPER_COMPLETE_ARGS": "llmcli ask -m f"}).stdout
    assert '"fast":"alias of qwen-small"' in out


def test_a_fresh_home_completes_builtin_providers_and_no_models(llmcli_home: Path) -> None:
    assert complete("llmcli ask -p o", llmcli_home)[0] == ["ollama", "openai"]
    assert complete("llmcli ask -m ", llmcli_home)[0] == []


def test_providers_added_to_the_database_are_completed(home: Path) -> None:
    result = CliRunner().invoke(build_app(), ["providers", "add", "team-llm", "--kind", "openai",
                                              "--base-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 0, result.stderr
    assert complete("llmcli ask -p te", home)[0] == ["team-llm"]
    CliRunner().invoke(build_app(), ["providers", "remove", "team-llm"])
    assert complete("llmcli ask -p te", home)[0] == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_script_completes_in_a_real_bash(home: Path) -> None:
    """Source completions/llmcli.bash and call its function the way bash does on <Tab>."""
    script = ROOT / "completions" / "llmcli.bash"
    env = {**os.environ, "LLMCLI_HOME": str(home),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if not (Path(sys.executable).parent / "llmcli").exists():
        pytest.skip("the llmcli console script is not installed next to this Python")
    code = (f'source "{script}"; COMP_WORDS=(llmcli ask -p gigachat -m ""); COMP_CWORD=5; '
            '_llmcli_completion llmcli; printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["GigaChat-2", "GigaChat-2-Max", "fast"]
