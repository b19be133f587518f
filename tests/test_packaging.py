"""The install puts one top-level name, ``nasrepro``, into site-packages.

The folders ``bench/``, ``methods/`` and ``reproduce/`` stay at the top of the repository; pyproject.toml maps
them to ``nasrepro.bench`` / ``nasrepro.methods`` / ``nasrepro.reproduce``. Two things can silently break that:
a new sub-package missing from pyproject's explicit list (it would be absent from a wheel), and an import of
the bare folder name, which works from the repository root (the folder is on ``sys.path``) but not after
``pip install`` elsewhere, and would load a second copy of every registry next to the ``nasrepro.*`` one.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("bench", "methods", "reproduce")
CODE_IMPORT = re.compile(r"(^|[;\n]\s*)(?:from|import) ((?:bench|methods|reproduce)(?:\.\w+)*)[ ;\n]")


def test_every_package_folder_is_installed_under_nasrepro() -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = sorted("nasrepro." + str(p.parent.relative_to(ROOT)).replace("/", ".")
                     for top in TOPS for p in (ROOT / top).rglob("__init__.py"))
    assert sorted(conf["packages"]) == folders
    assert conf["package-dir"] == {f"nasrepro.{t}": t for t in TOPS}
    assert not any(p.split(".")[0] != "nasrepro" for p in conf["packages"])


def _bare_imports(path: Path) -> list[str]:
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # code run with python -c
            names = [m.group(2) for m in CODE_IMPORT.finditer(node.value)]
        bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in TOPS]
    return bad


def test_no_code_imports_the_bare_folder_names() -> None:
    files = [p for d in (*TOPS, "tests") for p in (ROOT / d).rglob("*.py")]
    bad = [b for p in files for b in _bare_imports(p)]
    assert not bad, "import these as nasrepro.<folder>...: " + "; ".join(bad[:10])


def test_the_installed_package_imports_from_outside_the_checkout(tmp_path: Path) -> None:
    """From a folder without the checkout on sys.path, ``nasrepro.*`` imports and ``bench`` does not."""
    code = ("import importlib.util, nasrepro.reproduce.cli, nasrepro.bench.runner, nasrepro.methods\n"
            "print(all(importlib.util.find_spec(n) is None for n in ('bench', 'methods', 'reproduce')))")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "True"
