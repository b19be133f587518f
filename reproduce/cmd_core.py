"""``nasrepro list`` and ``nasrepro run``: the core commands."""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.io import atomic_write_text
from nasrepro.bench.metrics import aggregate_records, fmt_pm, summary_csv, summary_records
from nasrepro.bench.paths import check_out_dir
from nasrepro.bench.registry import benchmarks, make_benchmark
from nasrepro.bench.runner import Budget, RunSpec, run_grid
from nasrepro.methods import make_method, registry

# Default budgets follow each benchmark's paper protocol (NB201: 12,000 simulated seconds).
MAX_SEEDS = 100_000
DEFAULT_BUDGET = {"nb201": "12000s", "supernet": "1000evals", "nb201-live": "20evals"}


def parse_seeds(text: str) -> list[int]:
    """'0-99', '0,3,7' or '5' -> list of seeds."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):  # refuse huge ranges before building them
            if "-" in part and int(part.split("-")[1]) - int(part.split("-")[0]) > MAX_SEEDS:
                raise OverflowError

        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-")
                if int(hi) < int(lo):
                    raise ValueError
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except OverflowError:
        raise ValueError(f"--seeds {text!r}: at most {MAX_SEEDS} seeds per method") from None
    except ValueError:
        raise ValueError(f"malformed --seeds {text!r}: use e.g. '0-99', '0,3,7' or '5'") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"--seeds {text!r} gives no non-negative seed")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"--seeds {text!r} asks for {len(seeds)} runs per method; at most {MAX_SEEDS}")
    return sorted(set(seeds))


def parse_sets(items: list[str] | None, flag: str = "--set") -> dict[str, Any]:
    """['population_size=20', 'name=x'] -> {'population_size': 20, 'name': 'x'}."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"malformed {flag} {item!r}: use KEY=VALUE, e.g. {flag} population_size=20")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def cmd_list(args: argparse.Namespace) -> int:
    from nasrepro.reproduce.cli import reproductions

    print("methods:")
    for name, cls in registry().items():
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"  {name:<18} {doc[0] if doc else ''}")
    from nasrepro.methods.base import variants, wrappers

    for name, (base, params, desc) in variants().items():
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        print(f"  {name:<18} {desc or base} (= {base} with {shown})")
    print("wrappers (--wrap NAME:KEY=VALUE,...):")
    for name, factory in wrappers().items():
        doc = (factory.__doc__ or "").strip().splitlines()
        print(f"  {name:<18} {doc[0] if doc else ''}")
    print("benchmarks:")
    for name, desc in benchmarks().items():
        print(f"  {name:<18} {desc}")
    print("reproductions (nasrepro reproduce NAME):")
    for name, mod in reproductions().items():
        print(f"  {name:<18} {mod.DESCRIPTION}")
    return 0


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", default="nb201", help="benchmark name (see 'nasrepro list'); default nb201")
    p.add_argument("--dataset", default=None, help="dataset, e.g. cifar10, cifar100, imagenet16-120")
    p.add_argument("--table", default=None, help="NB201 table: official .pth, NATS dir, compact .npz or CSV")
    p.add_argument("--checkpoint", default=None, help="supernet checkpoint (bench supernet)")
    p.add_argument("--config", default=None, help="supernet config (imagenet, cifar10-small, mnist-small)")
    p.add_argument("--cache-mb", default=None, help="supernet: feature-cache budget in MiB for frozen prefixes (PCF-ES)")
    p.add_argument("--sample-rate", default=None, help="supernet: importance-sampling rate in (0, 1] (1.0 = off)")
    p.add_argument("--bench-opt", action="append", metavar="KEY=VALUE", help="extra benchmark option")


def bench_options(args: argparse.Namespace) -> dict[str, Any]:
    opts = parse_sets(args.bench_opt, "--bench-opt")
    for key in ("dataset", "table", "checkpoint", "config", "cache_mb", "sample_rate"):
        value = getattr(args, key, None)
        if value is not None:
            opts[key] = value
    return opts


def write_summary(paths: list[Path], out: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """``summary.csv`` (and ``ledger.csv``) over *every* finished run under ``out``, not only the latest
    command's: a second command into the same folder adds rows, it never drops earlier ones. Returns the
    summary's rows and columns (:func:`bench.metrics.summary_records`; the CSV is what pandas writes for
    them, without loading pandas for the usual runs)."""
    from nasrepro.bench.runner import ledger_path, load_run_ends

    every = sorted({*map(Path, paths), *out.rglob("seed*.jsonl")})
    records, columns = summary_records(every)
    atomic_write_text(out / "summary.csv", summary_csv(records, columns))
    ledgers = []
    for p in every:  # measured cost breakdowns (supernet: seconds per phase, energy, cache bytes)
        side = ledger_path(p)
        timing = json.loads(side.read_text()) if side.exists() else {}
        if timing.get("ledger"):
            meta = load_run_ends(p)["meta"]
            ledgers.append({"method": meta.get("tag") or meta["method"], "seed": meta["seed"], **timing["ledger"]})
    if ledgers:
        import pandas as pd

        atomic_write_text(out / "ledger.csv", pd.DataFrame(ledgers).to_csv(index=False))
    return records, columns


def print_summary(summary: tuple[list[dict[str, Any]], list[str]], provenance: dict[str, str]) -> None:
    agg = aggregate_records(*summary)
    print()
    for key, value in provenance.items():
        print(f"  {key}: {value}")
    head = f"{'dataset':<16}{'method':<22}{'runs':>5}  {'evals':>8}  {'val acc':>13}  {'test acc':>13}"
    print(head)
    print("-" * len(head))
    for r in agg:
        val = fmt_pm(r.get("final_val_acc_mean", float("nan")), r.get("final_val_acc_std", 0.0))
        test = fmt_pm(r.get("final_test_acc_mean", float("nan")), r.get("final_test_acc_std", 0.0))
        print(f"{r['dataset']:<16}{r['method']:<22}{r['runs']:>5}  {r['n_evals_mean']:>8.1f}  {val:>13}  {test:>13}")


def check_params(method: str, benchmark: Any, params: dict[str, Any], wrappers: tuple[str, ...] = ()) -> None:
    """A throwaway method (and its wrappers) checks names and values before any run starts."""
    from nasrepro.methods.base import apply_wrappers, get_method, resolve_method

    for key, value in params.items():  # inf/NaN would train a NaN policy and be written as a valid run
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--set {key}={value}: not a finite number; give a finite value")
    reason = get_method(method).applies_to(benchmark.space)
    if reason:
        raise ValueError(f"method {method!r} does not apply to {benchmark.name} (space {benchmark.space.name}): {reason}")
    try:
        resolve_method(method, params)
        inst = make_method(method, benchmark.space, np.random.default_rng(0), **params)
        apply_wrappers(inst, benchmark, wrappers).ask()
    except (TypeError, ValueError, OverflowError) as err:
        shown = f" ({params})" if params else ""
        raise ValueError(f"bad parameter for method {method!r}{shown}: {err}") from None


def add_grid_arguments(p: argparse.ArgumentParser, workers_help: str = "processes (default: one per core)") -> None:
    """Options every grid command shares: workers, executor, stale runs."""
    p.add_argument("--workers", type=int, default=None, help=workers_help)
    p.add_argument("--executor", default="local", choices=("local", "ray"),
                   help="local process pool (default) or a Ray cluster (pip install -e '.[ray]')")
    p.add_argument("--address", default=None, help="Ray cluster address (with --executor ray; default: a local one)")
    p.add_argument("--redo-stale", action="store_true",
                   help="recompute runs whose file was made with other settings (default: refuse them)")


def grid_options(args: argparse.Namespace, n_runs: int) -> dict[str, Any]:
    """run_grid's keyword arguments from add_grid_arguments' options."""
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if workers is not None and workers > 1024:
        raise ValueError(f"--workers {workers}: at most 1024")
    return {"workers": workers or max(1, min(n_runs, os.cpu_count() or 1)),
            "redo_stale": bool(getattr(args, "redo_stale", False)),
            "executor": getattr(args, "executor", "local"), "address": getattr(args, "address", None)}


def cmd_run(args: argparse.Namespace) -> int:
    from nasrepro.methods.base import method_names

    seeds = parse_seeds(args.seeds)
    params = parse_sets(args.set)
    wrappers = tuple(w.strip() for w in (args.wrap or []))
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    if not methods:
        raise ValueError(f"--method {args.method!r} names no method; run 'nasrepro list' to see them")
    names = method_names()
    for m in methods:
        if m not in names:
            raise ValueError(f"unknown method {m!r}; run 'nasrepro list' to see: {', '.join(names)}")
    options = bench_options(args)
    out = check_out_dir(args.out)
    # Build once here: a bad table, dataset or checkpoint fails now, with one line, before any run.
    bench = make_benchmark(args.bench, **options)
    budget = args.budget if args.budget is not None else DEFAULT_BUDGET.get(args.bench, "100evals")
    Budget.parse(budget)
    for m in methods:
        check_params(m, bench, params, wrappers)
    specs = [
        RunSpec(
            bench=args.bench,
            method=m,
            seed=s,
            budget=budget,
            bench_options=tuple(sorted(options.items())),
            params=tuple(sorted(params.items())),
            wrappers=wrappers,
        )
        for m in methods
        for s in seeds
    ]
    paths = run_grid(specs, out, **grid_options(args, len(specs)))
    summary = write_summary(paths, out)
    print_summary(summary, {**bench.describe(), "budget": budget, "summary": str(out / "summary.csv")})
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from nasrepro.bench.analysis import write_results_index
    from nasrepro.bench.paths import results_dir

    root = Path(args.results) if args.results else results_dir()
    if not root.is_dir():
        raise ValueError(f"--results {root} is not a folder; give the results folder to index")
    print(f"wrote {write_results_index(root)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list methods, benchmarks and reproductions")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("index", help="regenerate results/README.md: every table with its command, commit and date")
    p.add_argument("--results", default=None, help="results folder (default results/)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser(
        "run",
        help="run search methods on a benchmark over seeds (resumable)",
        description="Run METHOD(s) on a benchmark for each seed; writes OUT/<method>/seed<k>.jsonl and "
        "OUT/summary.csv. Re-running the same command resumes: finished runs are kept, none repeated.",
    )
    add_bench_arguments(p)
    p.add_argument("--method", default="rea", help="method name(s), comma-separated; default rea")
    p.add_argument("--seeds", default="0", help="e.g. 0-99, 0,3,7 or 5; default 0")
    p.add_argument("--budget", default=None, help="e.g. 12000s (simulated seconds) or 150evals; "
                   "default: the benchmark's paper protocol (nb201: 12000s)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method parameter, e.g. population_size=20")
    p.add_argument("--wrap", action="append", metavar="NAME:KEY=VALUE,...",
                   help="wrap the method, innermost first, e.g. warmup:n=1000,proxy=params or "
                   "move:k=10,proxy=synflow,scores=PATH (see 'nasrepro list')")
    add_grid_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_run)
