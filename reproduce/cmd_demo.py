"""``nasrepro demo``: the main job on the embedded default, with no data beyond installed packages.

1. A head-to-head of every registered method on NAS-Bench-201 CIFAR-10 (the table shipped in
   ``analog-nasbench``), equal budgets and seeds: table, search curves, summary.csv.
2. The short version of each reproduction that offers one (``demo(out_dir) -> str``):
   zero-cost proxies, SPOS supernet search, PCF-ES, FNAS, ...
Everything lands in ``results/demo/`` (git-ignored: the README's commands leave a clean checkout) or
``--out``, with ``report.md`` as the entry point. A part that fails is reported as not run, with its
reason; the others still run, and the command then exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from nasrepro.bench.io import atomic_write_text
from nasrepro.bench.metrics import aggregate, fmt_pm, incumbent_curve, summarize_runs
from nasrepro.bench.paths import results_dir
from nasrepro.bench.plots import curves_figure
from nasrepro.bench.registry import make_benchmark
from nasrepro.bench.runner import RunSpec, load_run, run_grid


def head_to_head(out: Path, seeds: int, evals: int, workers: int) -> str:
    bench = make_benchmark("nb201", dataset="cifar10", table="embedded")
    lines = ["## Every registered method on NAS-Bench-201 (embedded default table)", ""]
    lines += [f"- {k}: {v}" for k, v in bench.describe().items()]
    lines += [f"- budget: {evals} evaluations per run, seeds 0-{seeds - 1}", ""]
    from nasrepro.methods.base import method_names
    from nasrepro.reproduce.cmd_core import check_params

    runnable, skipped = [], []
    for name in method_names():  # registered methods and their named variants
        try:  # the same check as `nasrepro run`: parameters resolve, the method applies, it can ask
            check_params(name, bench, {})
            runnable.append(name)
        except ValueError as err:  # a method that cannot run alone here is reported, not hidden
            skipped.append((name, str(err)))
    opts = (("dataset", "cifar10"), ("table", "embedded"))
    specs = [RunSpec("nb201", m, s, f"{evals}evals", opts) for m in runnable for s in range(seeds)]
    paths = run_grid(specs, out / "runs", workers=workers)
    summary = summarize_runs(paths)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    agg = aggregate(summary).sort_values("final_test_acc_mean", ascending=False)
    lines += ["| method | runs | final val acc (200 ep; n/a on this table) | final test acc (200 ep) |",
              "|---|---|---|---|"]
    for _, r in agg.iterrows():
        lines.append(f"| {r['method']} | {r['runs']} | {fmt_pm(r['final_val_acc_mean'], r['final_val_acc_std'])} "
                     f"| {fmt_pm(r['final_test_acc_mean'], r['final_test_acc_std'])} |")
    for name, why in skipped:
        lines.append(f"| {name} | 0 | did not run: {why} | |")
    from nasrepro.reproduce.cmd_core import write_summary

    write_summary(paths, out / "runs")
    curves: dict[str, list[np.ndarray]] = {}
    for spec, path in zip(specs, paths):
        scores = [s["score"] for s in load_run(path)["steps"]]
        curves.setdefault(spec.method, []).append(incumbent_curve(scores, steps=evals))  # padded if it stopped early
    x = np.arange(1, evals + 1)
    curves_figure({"NB201 CIFAR-10 (embedded)": (x, {k: np.vstack(v) for k, v in curves.items()})},
                  out / "head_to_head.png", xlabel="evaluations", ylabel="incumbent search score (%)")
    lines += ["", "![search curves](head_to_head.png)", ""]
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    from nasrepro.bench.paths import check_out_dir
    from nasrepro.reproduce.cli import reproductions

    for flag, value, hi in (("--seeds", args.seeds, 1000), ("--evals", args.evals, 100_000), ("--workers", args.workers, 64)):
        if not 1 <= value <= hi:
            raise ValueError(f"{flag} must be between 1 and {hi:,}, got {value}")
    out = check_out_dir(args.out if args.out is not None else results_dir() / "demo")
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    t0 = time.perf_counter()
    sections = ["# nasrepro demo", "", "Everything below ran on this machine, now, from installed packages only.", ""]
    parts = [("head-to-head", lambda: head_to_head(out, args.seeds, args.evals, args.workers))]
    parts += [(name, (lambda m=mod, n=name: m.demo(out / n))) for name, mod in reproductions().items()
              if hasattr(mod, "demo")]
    for name, part in parts:
        t = time.perf_counter()
        print(f"== demo: {name}", flush=True)
        try:
            sections.append(part())
            sections.append(f"_({name}: {time.perf_counter() - t:.0f} s)_\n")
        except KeyboardInterrupt:
            raise
        except Exception as err:
            traceback.print_exc()
            failed.append(name)
            sections.append(f"## {name}\n\nDID NOT RUN: {type(err).__name__}: {err}\n")
    sections.append(f"Total wall time: {time.perf_counter() - t0:.0f} s.")
    atomic_write_text(out / "report.md", "\n".join(sections) + "\n")
    print(f"\nreport: {out / 'report.md'}")
    if failed:
        print(f"error: demo parts did not run: {', '.join(failed)} (see report.md)", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job on the embedded default: every method head-to-head, "
                       "plus short versions of the reproductions (a few minutes on 2 cores)")
    p.add_argument("--seeds", type=int, default=10, help="seeds per method (default 10)")
    p.add_argument("--evals", type=int, default=100, help="evaluations per run (default 100)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None, help="output folder (default results/demo)")
    p.set_defaults(func=cmd_demo)
