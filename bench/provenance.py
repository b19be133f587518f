"""Where a result came from: code version, command line, date and the data it read (with checksums).

Every table and figure that nasrepro writes carries this block, so a number can be traced to the run
of the code that made it. Two layers:

- :func:`code_version` is part of a run's identity in its meta line (the package version) and of its
  provenance (the git commit, or ``"not a git checkout"`` for an installed copy);
- :func:`provenance` adds the command line, the date and the data sources; :func:`markdown_block`,
  :func:`latex_comment` and :func:`write_sidecar` put it beside a table (a CSV keeps a plain header
  that ``pandas.read_csv`` loads: its provenance goes to ``NAME.provenance.json``).
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE = "nasrepro"
_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def package_version() -> str:
    try:
        from importlib.metadata import version

        return version(PACKAGE)
    except Exception:  # not installed (run from a bare checkout): read pyproject.toml
        try:
            import tomllib

            return str(tomllib.loads((_ROOT / "pyproject.toml").read_text())["project"]["version"])
        except Exception:
            return "unknown"


@lru_cache(maxsize=1)
def git_commit() -> str:
    """``<sha>`` or ``<sha>+dirty`` when run from a git checkout, else ``"not a git checkout"``."""
    if not (_ROOT / ".git").exists():
        return "not a git checkout"
    try:
        sha = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{sha}+dirty" if dirty else sha


def code_version() -> dict[str, str]:
    return {"version": package_version(), "commit": git_commit()}


def command_line(argv: list[str] | None = None) -> str:
    argv = sys.argv if argv is None else argv
    name = Path(argv[0]).name if argv else PACKAGE
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if name in ("__main__.py", "cli.py"):
        name = PACKAGE
    elif spec is not None and name.endswith(".py") and spec.name != "nasrepro.reproduce.cli":
        name = f"python -m {spec.name}"  # e.g. `python -m bench.supernet.flops`, not `flops.py`
    return " ".join([name, *map(shlex.quote, argv[1:])])


def source_entry(path: Path | str, role: str | None = None) -> dict[str, str]:
    """A data source as ``{"path", "sha256"}`` (the content fingerprint of bench.io)."""
    from nasrepro.bench.io import file_fingerprint

    p = Path(path)
    entry = {"path": str(p)}
    if p.is_file():
        entry["sha256"] = file_fingerprint(p)
    if role:
        entry["role"] = role
    return entry


def provenance(
    command: str | None = None,
    sources: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of an output: command, version, commit, date, data sources.

    ``sources`` maps a role (``table``, ``scores``, ``checkpoint``, ``runs``) to a path, a
    :func:`source_entry` dict, or a plain description (the embedded default table).
    """
    srcs: dict[str, Any] = {}
    for role, value in (sources or {}).items():
        if isinstance(value, dict):
            srcs[role] = value
        elif isinstance(value, Path) or (isinstance(value, str) and Path(value).is_file()):
            srcs[role] = source_entry(value)
        else:
            srcs[role] = str(value)
    return {
        "command": command if command is not None else command_line(),
        **code_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": srcs,
        **(extra or {}),
    }


def _source_text(value: Any) -> str:
    if isinstance(value, dict):
        text = value.get("path", "")
        if value.get("sha256"):
            text += f" ({value['sha256']})"
        return text or json.dumps(value, sort_keys=True)
    return str(value)


def markdown_block(prov: dict[str, Any]) -> str:
    """The block appended to every Markdown table nasrepro writes."""
    lines = ["", "<details><summary>Provenance</summary>", "",
             f"- command: `{prov.get('command', '')}`",
             f"- nasrepro {prov.get('version', '?')}, commit {prov.get('commit', '?')}",
             f"- date: {prov.get('date', '?')}"]
    for role, value in prov.get("sources", {}).items():
        lines.append(f"- {role}: {_source_text(value)}")
    for key, value in prov.items():
        if key not in ("command", "version", "commit", "date", "sources"):
            lines.append(f"- {key}: {value}")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def latex_comment(prov: dict[str, Any]) -> str:
    body = markdown_block(prov).replace("<details><summary>Provenance</summary>", "Provenance")
    return "\n".join(f"% {line}".rstrip() for line in body.replace("</details>", "").strip().splitlines()) + "\n"


def write_sidecar(path: Path | str, prov: dict[str, Any]) -> Path:
    """Write ``PATH.provenance.json`` beside a CSV or figure (atomic)."""
    from nasrepro.bench.io import atomic_write_text

    side = Path(path).with_name(Path(path).name + ".provenance.json")
    atomic_write_text(side, json.dumps(prov, indent=1, sort_keys=True) + "\n")
    return side
