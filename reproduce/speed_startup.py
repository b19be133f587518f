"""``nasrepro speed startup``: what a command costs before it does anything, as a whole process.

Two commands, each in a fresh process, measured by the parent (``os.wait4``: wall seconds, CPU
seconds, peak RSS): ``nasrepro --help`` and one tabular REA run on NB201 (``--workers 1`` so that
the process is the whole cost). Two ways, alternated repetition by repetition:

- ``eager``: the command after ``import torch, scipy, matplotlib, pandas`` in the same process,
  which is what importing every command module cost before they imported those lazily;
- ``lazy``: the command as it is now.

The ratio is eager / lazy of the medians.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

NAME = "startup"
DESCRIPTION = "wall, CPU and peak memory of `nasrepro --help` and a tabular REA run: eager imports vs now"

EAGER = "import torch, scipy, matplotlib, pandas; "


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce._speed import add_out_argument

    p.add_argument("--repeats", type=int, default=5, help="processes per command and way (median reported)")
    p.add_argument("--budget", default="12000s", help="budget of the tabular REA run (default: NB201's 12000s)")
    add_out_argument(p)


def _code(prefix: str, argv: list[str]) -> str:
    return f"{prefix}from nasrepro.reproduce.cli import main; raise SystemExit(main({argv!r}))"


def measure(repeats: int, budget: str) -> list[dict[str, Any]]:
    from nasrepro.reproduce._speed import PY, median, python_env, run_process

    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    env = python_env()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="nasrepro-speed-") as tmp:
        commands = {
            "nasrepro --help": lambda k: ["--help"],
            f"nasrepro run --bench nb201 --method rea --seeds 0 --budget {budget} --workers 1": lambda k: [
                "run", "--bench", "nb201", "--method", "rea", "--seeds", "0", "--budget", budget,
                "--workers", "1", "--out", str(Path(tmp, f"run{k}"))],
        }
        for label, argv in commands.items():
            usage: dict[str, list[Any]] = {"eager": [], "lazy": []}
            for k in range(repeats):
                # alternate which way goes first, so that a load change hits both alike
                ways = ("eager", "lazy") if k % 2 == 0 else ("lazy", "eager")
                for way in ways:
                    prefix = EAGER if way == "eager" else ""
                    usage[way].append(run_process([PY, "-c", _code(prefix, argv(f"{way}{k}"))], env=env))
            for way in ("eager", "lazy"):
                us = usage[way]
                rows.append({"command": label, "way": way, "repeats": repeats,
                             "wall_s": median([u.wall_s for u in us]), "cpu_s": median([u.cpu_s for u in us]),
                             "peak_rss_mb": median([u.peak_rss_mb for u in us])})
    return rows


def report(rows: list[dict[str, Any]]) -> list[str]:
    from nasrepro.reproduce._speed import machine_line, md_table

    lines = ["# Start-up cost of nasrepro commands (whole processes)", "",
             f"Machine: {machine_line()}.", "",
             "Each row: median over fresh processes started and measured by the parent (`os.wait4`: wall "
             "seconds, CPU seconds = user + system, peak RSS). `eager` = the same command after `import torch, "
             "scipy, matplotlib, pandas` in that process (what every command paid when all command modules "
             "imported those at their top); `lazy` = as now. The two ways alternate process by process.", "",
             *md_table(rows, ["command", "way", "repeats", "wall_s", "cpu_s", "peak_rss_mb"]), "",
             "| command | wall ratio eager/lazy | CPU ratio | peak RSS ratio |", "|---|---|---|---|"]
    by = {(r["command"], r["way"]): r for r in rows}
    for cmd in dict.fromkeys(r["command"] for r in rows):
        e, lz = by[(cmd, "eager")], by[(cmd, "lazy")]
        lines.append(f"| {cmd} | {e['wall_s'] / lz['wall_s']:.1f}x | {e['cpu_s'] / lz['cpu_s']:.1f}x | "
                     f"{e['peak_rss_mb'] / lz['peak_rss_mb']:.1f}x |")
    return lines + [""]


def run(args: argparse.Namespace) -> int:
    from nasrepro.reproduce._speed import speed_dir, write_outputs

    rows = measure(args.repeats, args.budget)
    lines = report(rows)
    path = write_outputs(NAME, speed_dir(args.out), rows, lines, sources={"table": _table_source()})
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0


def _table_source() -> str:
    from nasrepro.bench.paths import nb201_csv

    path = nb201_csv()
    return str(path) if path else "embedded default (analog-nasbench)"
