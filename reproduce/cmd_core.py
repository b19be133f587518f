"""``nasrepro list`` and ``nasrepro run``: the core commands."""

from __future__ import annotations

import argparse
import ast
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas loads where a summary is written, not for `nasrepro --help`
    import pandas as pd

from bench.io import atomic_write_text
from bench.metrics import aggregate, fmt_pm, summarize_runs
from bench.registry import benchmarks, make_benchmark
from bench.runner import Budget, RunSpec, load_run, run_grid
from methods import make_method, registry

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
    from reproduce.cli import reproductions

    print("methods:")
    for name, cls in registry().items():
        doc = (cls.__doc__ or "").strip().splitlines()
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


def write_summary(paths: list[Path], out: Path) -> pd.DataFrame:
    import pandas as pd

    summary = summarize_runs(paths)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    ledgers = []
    for p in paths:  # measured cost breakdowns (supernet: seconds per phase, energy, cache bytes)
        meta = load_run(p)["meta"]
        if meta.get("ledger"):
            ledgers.append({"method": meta.get("tag") or meta["method"], "seed": meta["seed"], **meta["ledger"]})
    if ledgers:
        atomic_write_text(out / "ledger.csv", pd.DataFrame(ledgers).to_csv(index=False))
    return summary


def print_summary(summary: pd.DataFrame, provenance: dict[str, str]) -> None:
    agg = aggregate(summary)
    print()
    for key, value in provenance.items():
        print(f"  {key}: {value}")
    head = f"{'dataset':<16}{'method':<22}{'runs':>5}  {'evals':>8}  {'val acc':>13}  {'test acc':>13}"
    print(head)
    print("-" * len(head))
    for _, r in agg.iterrows():
        val = fmt_pm(r.get("final_val_acc_mean", float("nan")), r.get("final_val_acc_std", 0.0))
        test = fmt_pm(r.get("final_test_acc_mean", float("nan")), r.get("final_test_acc_std", 0.0))
        print(f"{r['dataset']:<16}{r['method']:<22}{r['runs']:>5}  {r['n_evals_mean']:>8.1f}  {val:>13}  {test:>13}")


def check_params(method: str, space: Any, params: dict[str, Any]) -> None:
    try:
        make_method(method, space, np.random.default_rng(0), **params).ask()
    except (TypeError, ValueError) as err:
        raise ValueError(f"bad parameter for method {method!r} ({params}): {err}") from None


def cmd_run(args: argparse.Namespace) -> int:
    seeds = parse_seeds(args.seeds)
    params = parse_sets(args.set)
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    reg = registry()
    for m in methods:
        if m not in reg:
            raise ValueError(f"unknown method {m!r}; run 'nasrepro list' to see: {', '.join(reg)}")
    options = bench_options(args)
    # Build once here: a bad table, dataset or checkpoint fails now, with one line, before any run.
    bench = make_benchmark(args.bench, **options)
    budget = args.budget if args.budget is not None else DEFAULT_BUDGET.get(args.bench, "100evals")
    Budget.parse(budget)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    for m in methods:  # a throwaway method checks parameter names and values before any run starts
        check_params(m, bench.space, params)
    out = Path(args.out)
    specs = [
        RunSpec(
            bench=args.bench,
            method=m,
            seed=s,
            budget=budget,
            bench_options=tuple(sorted(options.items())),
            params=tuple(sorted(params.items())),
        )
        for m in methods
        for s in seeds
    ]
    workers = args.workers or min(len(specs), os.cpu_count() or 1)
    paths = run_grid(specs, out, workers=workers)
    summary = write_summary(paths, out)
    print_summary(summary, {**bench.describe(), "budget": budget, "summary": str(out / "summary.csv")})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list methods, benchmarks and reproductions")
    p.set_defaults(func=cmd_list)

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
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_run)
