"""Release hygiene: the built wheel, `pip install .` and `pipx install .` each give a working `llmcli`
in a fresh environment, and the version comes from one place.

The wheel and `pip install .` tests need no network: the package goes in with `--no-deps` and the
fresh venv sees this environment's site-packages through a .pth file (its own site-packages come
first, and .pth files inside the borrowed folder — such as an editable llmcli — are not processed),
and the build runs without isolation when hatchling is importable here. pipx makes its own venv and
installs the dependencies from PyPI or pip's cache; without pipx on PyPI (offline) it is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import llmcli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = "Scripts" if os.name == "nt" else "bin"
SKIP_IN_COPY = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".ruff_cache",
                                      "dist", "build", "*.egg-info", ".bench*")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONNOUSERSITE="1",
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")  # never a real keyring
    env.update(extra)
    return env


def _run(args: list[str | Path], *, cwd: Path, timeout: float = 600, **extra: str) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(**extra), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, \
        f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _build_isolation_args() -> list[str]:
    try:  # building offline needs the build backend here; otherwise pip fetches it (PyPI or its cache)
        import hatchling  # noqa: F401
    except ImportError:
        return []
    return ["--no-build-isolation"]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project as a fresh checkout would have it (no venv, no caches): builds never touch ROOT."""
    target = tmp_path_factory.mktemp("src") / "llmcli"
    shutil.copytree(ROOT, target, ignore=SKIP_IN_COPY)
    return target


@pytest.fixture(scope="module")
def wheel(source_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *_build_isolation_args(), "-w", out,
          source_copy], cwd=out)
    wheels = list(out.glob("llmcli-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def fresh_venv(path: Path) -> Path:
    """A venv without pip (the outer pip installs into it with --python) that borrows this
    environment's site-packages for the dependencies. Returns its python."""
    _run([sys.executable, "-m", "venv", "--without-pip", path], cwd=path.parent)
    python = path / BIN / ("python.exe" if os.name == "nt" else "python")
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=path).strip())
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "zz_borrowed_dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n",
                                                          encoding="utf-8")
    return python


def pip_into(python: Path, *args: str | Path) -> None:
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", *args], cwd=python.parent)


def assert_installed_llmcli_works(venv: Path, home: Path) -> None:
    """The console script runs from the venv, imports the venv's copy of llmcli, and really works."""
    exe = venv / BIN / "llmcli"
    assert _run([exe, "--version"], cwd=home).strip() == f"llmcli {llmcli.__version__}"
    where = _run([venv / BIN / "python", "-c", "import llmcli; print(llmcli.__file__)"], cwd=home).strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), f"llmcli imported from {where}, not the venv"
    listed = json.loads(_run([exe, "providers", "list", "--json"], cwd=home, LLMCLI_HOME=str(home / "home")))
    assert {"openai", "gigachat", "yandexgpt"} <= {p["name"] for p in listed}


def test_version_has_one_source(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    assert re.search(rf"^Version: {re.escape(llmcli.__version__)}$", text, re.MULTILINE)
    assert f"llmcli-{llmcli.__version__}-" in wheel.name
    defined = [p for p in (ROOT / "llmcli").rglob("*.py") if "__version__ =" in p.read_text(encoding="utf-8")]
    assert defined == [ROOT / "llmcli" / "__init__.py"]
    assert f"## [{llmcli.__version__}]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_wheel_holds_the_package_and_its_entry_point_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "llmcli/app.py" in names and "llmcli/providers/gigachat.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "scripts/")) or "__pycache__" in n]
    assert re.search(r"^llmcli = llmcli\.app:main$", entry_points, re.MULTILINE)


def test_built_wheel_installs_and_runs_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_into(python, wheel)
    assert_installed_llmcli_works(tmp_path / "venv", tmp_path)


def test_pip_install_dot_works_in_a_fresh_venv(source_copy: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_into(python, *_build_isolation_args(), source_copy)
    assert_installed_llmcli_works(tmp_path / "venv", tmp_path)


def test_pipx_install_dot_works(source_copy: Path, tmp_path: Path) -> None:
    """pipx as a user runs it: its own venv, dependencies resolved from the package's metadata."""
    tools = tmp_path / "pipx-tool"
    _run([sys.executable, "-m", "venv", tools], cwd=tmp_path)
    python = tools / BIN / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "pipx"], env=_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.skip(f"pipx cannot be installed here (no PyPI?): {proc.stderr.strip()[-300:]}")
    pipx_dirs = {"PIPX_HOME": str(tmp_path / "pipx-home"), "PIPX_BIN_DIR": str(tmp_path / "pipx-bin"),
                 "PIPX_MAN_DIR": str(tmp_path / "pipx-man")}
    _run([python, "-m", "pipx", "install", "--python", sys.executable, source_copy], cwd=tmp_path,
         timeout=900, **pipx_dirs)
    exe = tmp_path / "pipx-bin" / "llmcli"
    assert _run([exe, "--version"], cwd=tmp_path, **pipx_dirs).strip() == f"llmcli {llmcli.__version__}"
    listed = json.loads(_run([exe, "providers", "list", "--json"], cwd=tmp_path,
                             LLMCLI_HOME=str(tmp_path / "h")))
    assert {"openai", "gigachat", "yandexgpt"} <= {p["name"] for p in listed}
