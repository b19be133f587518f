"""``nasrepro speed runs``: many tabular searches as one whole ``nasrepro run`` process.

``nasrepro run --bench nb201 --method rea --seeds 0-(N-1) --workers W`` (default 500 runs, NB201's
12,000 s budget, W = the number of cores) into a fresh folder, measured by the parent: wall
seconds, CPU seconds of the process and its workers, peak RSS. Two ways, alternated repetition by
repetition:

- ``before``: the same command with what a query cost before this change put back in the process
  (and its forked workers): torch, scipy, matplotlib and pandas imported eagerly,
  ``NB201Tabular.query`` = the per-query computation, ``NB201Space.check``/``to_str`` unmemoised;
- ``now``: the command as it is.

The ratio is before / now of the medians.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

NAME = "runs"
DESCRIPTION = "500 tabular REA runs as one `nasrepro run` process: wall and CPU seconds, before vs now"

BEFORE = (
    "import torch, scipy, matplotlib, pandas\n"
    "from nasrepro.bench.core import SearchSpace\n"
    "from nasrepro.bench.nb201 import benchmark as B, space as S\n"
    "B.NB201Tabular.query = B.NB201Tabular._query_reference\n"
    "S.NB201Space.check = SearchSpace.check\n"
    "S.NB201Space.to_str = lambda self, arch: S.to_str(self.check(arch))\n"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce._speed import add_out_argument

    p.add_argument("--method", default="rea")
    p.add_argument("--runs", type=int, default=500, help="runs (seeds 0..N-1)")
    p.add_argument("--budget", default="12000s")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--repeats", type=int, default=3, help="processes per way (median reported)")
    p.add_argument("--ways", default="before,now", help="comma-separated subset of: before, now")
    add_out_argument(p)


def _argv(method: str, runs: int, budget: str, workers: int, out: Path) -> list[str]:
    return ["run", "--bench", "nb201", "--method", method, "--seeds", f"0-{runs - 1}", "--budget", budget,
            "--workers", str(workers), "--out", str(out)]


def measure(method: str, runs: int, budget: str, workers: int, repeats: int, ways: list[str]) -> list[dict[str, Any]]:
    from nasrepro.reproduce._speed import PY, median, python_env, run_process

    if runs < 1 or repeats < 1 or workers < 1:
        raise ValueError("--runs, --repeats and --workers must be >= 1")
    bad = [w for w in ways if w not in ("before", "now")]
    if bad or not ways:
        raise ValueError(f"--ways: choose from before, now (got {', '.join(ways) or 'nothing'})")
    env = python_env()
    usage: dict[str, list[Any]] = {w: [] for w in ways}
    evals: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="nasrepro-speed-runs-") as tmp:
        for k in range(repeats):
            for way in ways if k % 2 == 0 else ways[::-1]:
                out = Path(tmp, f"{way}{k}")
                argv = _argv(method, runs, budget, workers, out)
                prefix = BEFORE if way == "before" else ""
                code = f"{prefix}from nasrepro.reproduce.cli import main\nraise SystemExit(main({argv!r}))\n"
                usage[way].append(run_process([PY, "-c", code], env=env))
                evals[way] = _count_evals(out)
    if len(set(evals.values())) > 1:
        raise RuntimeError(f"the ways made different numbers of evaluations: {evals}")
    rows = []
    for way in ways:
        us = usage[way]
        wall, cpu = median([u.wall_s for u in us]), median([u.cpu_s for u in us])
        rows.append({"way": way, "method": method, "runs": runs, "budget": budget, "workers": workers,
                     "repeats": repeats, "evals": evals[way], "wall_s": wall, "cpu_s": cpu,
                     "evals_per_s": evals[way] / wall, "evals_per_cpu_s": evals[way] / cpu,
                     "peak_rss_mb": median([u.peak_rss_mb for u in us])})
    return rows


def _count_evals(out: Path) -> int:
    import csv

    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        return sum(int(r["n_evals"]) for r in csv.DictReader(fh))


def report(rows: list[dict[str, Any]]) -> list[str]:
    from nasrepro.reproduce._speed import machine_line, md_table

    r0 = rows[0]
    lines = [f"# {r0['runs']} tabular {r0['method'].upper()} runs as one `nasrepro run` process", "",
             f"Machine: {machine_line()}.", "",
             f"`nasrepro run --bench nb201 --method {r0['method']} --seeds 0-{r0['runs'] - 1} --budget "
             f"{r0['budget']} --workers {r0['workers']} --out FRESH` in a fresh process, measured by the parent "
             "(`os.wait4`: wall seconds; CPU seconds of the process and its workers; peak RSS of the largest "
             "process). `before` = the same command with eager torch/scipy/matplotlib/pandas imports and the "
             "per-query NB201 computation put back; `now` = as it is. The ways alternate process by process.", "",
             *md_table(rows, ["way", "runs", "workers", "evals", "wall_s", "cpu_s", "evals_per_s",
                              "evals_per_cpu_s", "peak_rss_mb"]), ""]
    by = {r["way"]: r for r in rows}
    if "before" in by and "now" in by:
        b, n = by["before"], by["now"]
        lines += [f"Ratio before/now: **{b['wall_s'] / n['wall_s']:.2f}x** wall, {b['cpu_s'] / n['cpu_s']:.2f}x CPU.",
                  ""]
    return lines


def run(args: argparse.Namespace) -> int:
    from nasrepro.reproduce._speed import speed_dir, write_outputs
    from nasrepro.reproduce.speed_startup import _table_source

    workers = args.workers or os.cpu_count() or 1
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    rows = measure(args.method, args.runs, args.budget, workers, args.repeats, ways)
    lines = report(rows)
    path = write_outputs(NAME, speed_dir(args.out), rows, lines, sources={"table": _table_source()})
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0
