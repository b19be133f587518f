"""Benchmark (not a test): wall time of many tabular searches, e.g. 500 REA runs on NB201.

    python -m bench.bench_runs --method rea --runs 500 [--table PATH] [--dataset cifar10]

Writes results/bench_runs.md and .csv: total and per-run wall seconds, evaluations per second,
peak memory (ru_maxrss) of this process, single process, one thread.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from bench.io import atomic_write_text
from bench.paths import results_dir
from bench.registry import make_benchmark
from bench.runner import run_search


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="rea")
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--budget", default="12000s")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--table", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    bench = make_benchmark("nb201", dataset=args.dataset, **({"table": args.table} if args.table else {}))
    load_s = time.perf_counter() - t0
    evals = 0
    t1 = time.perf_counter()
    for seed in tqdm(range(args.runs), desc=f"{args.method} runs"):
        evals += run_search(bench, args.method, seed, args.budget).n_evals
    run_s = time.perf_counter() - t1
    row = {
        "method": args.method, "runs": args.runs, "budget": args.budget, "dataset": args.dataset,
        "table": bench.describe().get("table_source", ""), "table_load_s": round(load_s, 3),
        "total_run_s": round(run_s, 2), "s_per_run": round(run_s / args.runs, 4),
        "evals": evals, "evals_per_s": round(evals / run_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    df = pd.DataFrame([row])
    out = Path(args.out) if args.out else results_dir()
    atomic_write_text(out / "bench_runs.csv", df.to_csv(index=False))
    atomic_write_text(out / "bench_runs.md", "# Tabular search speed\n\n" + df.T.rename(columns={0: "value"}).to_markdown() + "\n")
    print(df.T.to_string(header=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
