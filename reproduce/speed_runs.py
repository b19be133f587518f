"""``nasrepro speed runs``: many tabular searches as one whole ``nasrepro run`` process.

``nasrepro run --bench nb201 --method rea --seeds 0-(N-1) --workers W`` (default 500 runs, NB201's
12,000 s budget, W = the number of cores) into a fresh folder, measured by the parent: wall
seconds, CPU seconds of the process and its workers, peak RSS. Two ways, alternated repetition by
repetition:

- ``before``: the same command with what a query cost before this change put back in the process
  (and its forked workers): torch, scipy, matplotlib and pandas imported eagerly,
  ``NB201Tabular.query`` = the per-query computation, ``NB201Space.check``/``to_str`` unmemoised;
- ``now``: the command as it is.

The ratio is before / now of the medians. ``--phases`` adds one more ``now`` process, instrumented,
and a table of where its CPU seconds go (:data:`PHASES`).
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

# Put before the command in the instrumented process: CPU seconds (os.times: user + system, 10 ms ticks,
# summed over many calls) per phase, in the driver and, per chunk of runs, in each pool worker.
PHASES = """\
import functools as _ft, json as _json, os as _os
def _cpu():
    t = _os.times()
    return t.user + t.system
_P = {"startup": _cpu()}
_W = {}
_c = _cpu()
import nasrepro.reproduce.cli as _cli, nasrepro.reproduce.cmd_core as _cc, nasrepro.bench.runner as _R
import nasrepro.bench.nb201.tables as _T, nasrepro.methods.base as _MB
_P["imports"] = _cpu() - _c
def _wrap(mod, name, into):
    f = getattr(mod, name)
    @_ft.wraps(f)
    def g(*a, **k):
        c = _cpu()
        try:
            return f(*a, **k)
        finally:
            into[name] = into.get(name, 0.0) + _cpu() - c
    setattr(mod, name, g)
for _m, _n in [(_cli, "build_parser"), (_MB, "method_names"), (_T, "load_csv"), (_cc, "make_benchmark"),
               (_cc, "check_params"), (_cc, "run_grid"), (_R, "write_result"), (_cc, "write_summary"),
               (_cc, "print_summary")]:
    _wrap(_m, _n, _P)
for _m, _n in [(_R, "compute_text"), (_R, "_search"), (_R, "_steps_text"), (_R, "seed_streams"),
               (_R, "resolve_method"), (_R, "settings")]:
    _wrap(_m, _n, _W)
_chunk = _R._compute_texts
def _dump_worker(specs):
    out = _chunk(specs)
    with open(f"{_os.environ['NASREPRO_PHASES']}.w{_os.getpid()}", "w") as fh:
        _json.dump({**_W, "process": _cpu()}, fh)
    return out
_R._compute_texts = _dump_worker
import atexit as _atexit
def _dump():
    _P["process"] = _cpu()
    with open(_os.environ["NASREPRO_PHASES"], "w") as fh:
        _json.dump(_P, fh)
    if _W:  # runs made in this process (--workers 1)
        with open(f"{_os.environ['NASREPRO_PHASES']}.w{_os.getpid()}", "w") as fh:
            _json.dump(_W, fh)
_atexit.register(_dump)
"""
# (depth, label, driver or workers key; None: the rest of the phase above) in the order of the table
PHASE_ROWS = [
    (0, "driver process (`nasrepro run`)", "driver", "process"),
    (1, "start-up: interpreter and site", "driver", "startup"),
    (1, "start-up: imports (numpy, the CLI, the runner)", "driver", "imports"),
    (1, "argument parser", "driver", "build_parser"),
    (1, "method registry (imports methods/)", "driver", "method_names"),
    (1, "benchmark build", "driver", "make_benchmark"),
    (2, "of which the NB201 CSV parse", "driver", "load_csv"),
    (1, "check_params", "driver", "check_params"),
    (1, "run_grid: pool, results, files", "driver", "run_grid"),
    (2, "of which write_result (2 atomic files per run)", "driver", "write_result"),
    (1, "summary.csv (the run files' first and last lines)", "driver", "write_summary"),
    (1, "aggregate and print", "driver", "print_summary"),
    (1, "rest of the driver", "driver", None),
    (0, "pool workers (summed; none with --workers 1)", "workers", "process"),
    (0, "the runs (compute_text: in the pool's workers, or in run_grid with --workers 1)", "workers",
     "compute_text"),
    (1, "ask / check / query / tell loop", "workers", "_search"),
    (1, "JSON lines of the steps", "workers", "_steps_text"),
    (1, "seed_streams", "workers", "seed_streams"),
    (1, "resolve_method", "workers", "resolve_method"),
    (1, "settings (the run's identity)", "workers", "settings"),
    (1, "rest of a run (method set-up, final, meta line)", "workers", None),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce._speed import add_out_argument

    p.add_argument("--method", default="rea")
    p.add_argument("--runs", type=int, default=500, help="runs (seeds 0..N-1)")
    p.add_argument("--budget", default="12000s")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--repeats", type=int, default=3, help="processes per way (median reported)")
    p.add_argument("--ways", default="before,now", help="comma-separated subset of: before, now")
    p.add_argument("--phases", action="store_true",
                   help="also run one instrumented 'now' process: where its CPU seconds go, phase by phase")
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


def measure_phases(method: str, runs: int, budget: str, workers: int) -> list[dict[str, Any]]:
    """One ``now`` process with :data:`PHASES` put before it: CPU seconds per phase (:data:`PHASE_ROWS`;
    the workers' summed over them), beside the whole process tree as ``os.wait4`` reports it."""
    import glob
    import json

    from nasrepro.reproduce._speed import PY, python_env, run_process

    with tempfile.TemporaryDirectory(prefix="nasrepro-speed-phases-") as tmp:
        marker = str(Path(tmp, "phases.json"))
        argv = _argv(method, runs, budget, workers, Path(tmp, "out"))
        code = f"{PHASES}from nasrepro.reproduce.cli import main\nraise SystemExit(main({argv!r}))\n"
        whole = run_process([PY, "-c", code], env=python_env(NASREPRO_PHASES=marker)).cpu_s
        got: dict[str, dict[str, float]] = {"driver": json.loads(Path(marker).read_text()), "workers": {}}
        for f in sorted(glob.glob(marker + ".w*")):
            for k, v in json.loads(Path(f).read_text()).items():
                got["workers"][k] = got["workers"].get(k, 0.0) + v
    rows = [{"depth": 0, "phase": "whole process tree (os.wait4)", "cpu_s": whole}]
    parents: list[dict[str, Any]] = []
    for depth, label, side, key in PHASE_ROWS:
        row = {"depth": depth, "phase": label, "side": side, "key": key, "cpu_s": got[side].get(key or "", 0.0)}
        while parents and parents[-1]["depth"] >= depth:
            parents.pop()
        if key is None and parents:  # the part of the phase above that its named phases leave
            above = parents[-1]
            named = [r for r in rows if r.get("parent") is above and r["key"] is not None]
            row["cpu_s"] = above["cpu_s"] - sum(r["cpu_s"] for r in named)
        row["parent"] = parents[-1] if parents else None
        rows.append(row)
        parents.append(row)
    counted = got["driver"].get("process", 0.0) + got["workers"].get("process", 0.0)
    rows.append({"depth": 0, "phase": "rest of the tree: the driver's exit, the workers' shut-down",
                 "cpu_s": whole - counted})
    return [{"phase": "\u2003" * r["depth"] + r["phase"], "cpu_s": r["cpu_s"],
             "share": r["cpu_s"] / whole if whole > 0 else float("nan")} for r in rows]


def _count_evals(out: Path) -> int:
    import csv

    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        return sum(int(r["n_evals"]) for r in csv.DictReader(fh))


def report(rows: list[dict[str, Any]], phases: list[dict[str, Any]] | None = None) -> list[str]:
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
    if phases:
        lines += ["## Where a `now` process spends its CPU seconds", "",
                  "One more `now` process, instrumented (`--phases`): CPU seconds (user + system, `os.times`, 10 ms "
                  "ticks summed over many calls) per phase, the pool's workers summed; an indented phase is part of "
                  "the one above it. The instrumentation itself costs a few percent.", "",
                  *md_table([{"phase": r["phase"], "cpu_s": round(r["cpu_s"], 3), "share": f"{r['share']:.0%}"}
                             for r in phases], ["phase", "cpu_s", "share"]), ""]
    return lines


def run(args: argparse.Namespace) -> int:
    from nasrepro.reproduce._speed import speed_dir, write_outputs
    from nasrepro.reproduce.speed_startup import _table_source

    workers = args.workers or os.cpu_count() or 1
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    rows = measure(args.method, args.runs, args.budget, workers, args.repeats, ways)
    phases = measure_phases(args.method, args.runs, args.budget, workers) if args.phases else None
    lines = report(rows, phases)
    path = write_outputs(NAME, speed_dir(args.out), rows, lines, sources={"table": _table_source()})
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0
