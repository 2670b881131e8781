"""The layering of DESIGN.md §1 and the start-up import budget of §6, enforced."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "llmcli"
HEAVY = ("httpx", "sqlmodel", "sqlalchemy", "keyring", "pydantic_settings")

# stdlib-only leaf modules every layer may use
LEAVES = {"llmcli", "llmcli.types", "llmcli.errors", "llmcli.defaults", "llmcli.paths", "llmcli.logs",
          "llmcli.completion"}

# layer -> llmcli layers it may import (besides LEAVES and itself)
ALLOWED = {
    "app": {"commands", "console"},
    "commands": {"services", "config", "console", "render"},
    "console": {"render"},
    "render": set(),
    "services": {"providers", "storage", "config"},
    "providers": set(),
    "storage": set(),
    "config": set(),
}


def layer_of(module: str) -> str | None:
    if module in LEAVES:
        return None
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def llmcli_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("llmcli"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llmcli"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def known_module(name: str) -> str:
    """Trim `from llmcli.x import y` names back to a real module."""
    while name and not (PACKAGE.parent / (name.replace(".", "/") + ".py")).exists() \
            and not (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists():
        name = name.rpartition(".")[0]
    return name


def test_imports_point_one_way() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        source_layer = layer_of(source)
        for target in {known_module(t) for t in llmcli_imports(path)}:
            target_layer = layer_of(target)
            if target_layer is None or target_layer == source_layer or target == "llmcli.__main__":
                continue
            if source_layer is None:
                violations.append(f"{source} (a leaf) imports {target}")
            elif source_layer == "__main__":
                continue
            elif target_layer not in ALLOWED.get(source_layer, set()):
                violations.append(f"{source} ({source_layer}) imports {target} ({target_layer})")
    assert violations == []


def test_providers_use_no_settings_storage_or_ui_libraries() -> None:
    forbidden = ("typer", "rich", "sqlmodel", "sqlalchemy", "pydantic_settings", "keyring", "prompt_toolkit")
    offenders = []
    for path in (PACKAGE / "providers").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []


PROBE = """
import os, sys, json
sys.argv = ["llmcli", *json.loads(os.environ["PROBE_ARGS"])]
from llmcli.app import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(os.environ["PROBE_HEAVY"])))
sys.stderr.write("HEAVY=" + json.dumps(heavy) + "\\n")
"""


def _heavy_modules_loaded(args: list[str], extra_env: dict[str, str] | None = None) -> list[str]:
    env = dict(os.environ, PROBE_ARGS=json.dumps(args), PROBE_HEAVY=json.dumps(HEAVY), **(extra_env or {}))
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert line, proc.stderr
    return json.loads(line[-1][len("HEAVY="):])


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["ask", "--help"], ["keys", "--help"],
                                  ["config", "--help"]])
def test_help_and_version_import_nothing_heavy(args: list[str]) -> None:
    assert _heavy_modules_loaded(args) == []


def test_shell_completion_imports_nothing_heavy() -> None:
    env = {"_LLMCLI_COMPLETE": "complete_bash", "COMP_WORDS": "llmcli as", "COMP_CWORD": "1"}
    assert _heavy_modules_loaded([], env) == []


def test_version_fast_path_does_not_import_typer() -> None:
    code = "import sys; sys.argv=['llmcli','--version']; from llmcli.app import main; main(); " \
           "print('typer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout
    assert out.splitlines() == [f"llmcli {__import__('llmcli').__version__}", "False"]
