"""Shared pieces of the ``nasrepro speed NAME`` modules (``reproduce/speed_*.py``).

Every speed measurement reports wall seconds beside CPU seconds (the machine is shared: CPU time is
what load from other jobs disturbs least), compares two ways side by side in one run, alternating
them so that changing load hits both alike, and writes ``results/speed/NAME.md`` (provenance block
at the end) and ``NAME.csv`` (provenance in ``NAME.csv.provenance.json``).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def speed_dir(out: str | os.PathLike[str] | None = None) -> Path:
    """``--out`` or ``results/speed`` of this checkout."""
    from nasrepro.bench.paths import results_dir

    return Path(out) if out else results_dir() / "speed"


def add_out_argument(p: Any) -> None:
    p.add_argument("--out", default=None, help="output folder (default results/speed)")


@dataclass(frozen=True)
class Usage:
    """One measured piece of work: wall seconds, CPU seconds (user + system), peak RSS in MiB."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float = float("nan")


def timed(fn: Callable[[], Any]) -> tuple[Any, Usage]:
    """Run ``fn`` in this process: its result, wall and CPU seconds of this process."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, Usage(time.perf_counter() - t0, time.process_time() - c0)


def run_process(argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout_s: float = 1800.0) -> Usage:
    """Run a whole process; wall seconds, and CPU seconds and peak RSS of it and its waited-for children.

    ``os.wait4`` gives that one child's ``getrusage`` record (``RUSAGE_CHILDREN`` would mix all
    children of this process, and its ``ru_maxrss`` is the maximum over them).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd or ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = t0 + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            raise RuntimeError(f"{' '.join(argv)} ran over {timeout_s:.0f} s")
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed with status {proc.returncode}:\n{err[-2000:]}")
    # ru_maxrss is in KiB on Linux
    return Usage(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def python_env(**extra: str) -> dict[str, str]:
    """This environment, one BLAS/torch thread per process, this checkout first on the path."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def machine_line() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), Python "
            f"{platform.python_version()}, load average {load:.1f} at the end: wall times are noisy, "
            "CPU seconds less so")


def md_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """A Markdown table without pandas' tabulate dependency."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return lines


def write_outputs(name: str, out: Path, rows: list[dict[str, Any]], md_lines: list[str],
                  sources: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """``out/NAME.csv`` (+ provenance sidecar) and ``out/NAME.md`` ending with the provenance block."""
    import csv
    import io

    from nasrepro.bench.io import atomic_write_text
    from nasrepro.bench.provenance import markdown_block, provenance, write_sidecar

    prov = provenance(sources=sources or {}, extra=extra)
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = out / f"{name}.csv"
    atomic_write_text(csv_path, buf.getvalue())
    write_sidecar(csv_path, prov)
    md_path = out / f"{name}.md"
    atomic_write_text(md_path, "\n".join(md_lines).rstrip("\n") + "\n" + markdown_block(prov))
    return md_path


def rss_self_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PY = sys.executable
