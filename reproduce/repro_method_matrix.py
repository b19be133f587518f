"""Every method on every benchmark: a generated matrix of runs / does not apply (why) / fails.

Each cell is a short run (``--evals`` evaluations, seed 0) of a registered method or named variant on
a small instance of each benchmark, through the runner's own worker function (the same code path as
``nasrepro run``). A method that does not apply to a benchmark says why in one line: the reason comes
from the method itself (``Method.applies_to(space)``, the same check with which ``nasrepro run``
refuses it); anything else that goes wrong is a failure, listed with its error.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from nasrepro.bench.paths import check_out_dir, results_dir
from nasrepro.bench.runner import RunSpec

NAME = "method-matrix"
DESCRIPTION = "every method and variant x every benchmark: runs / does not apply (why) / fails (generated matrix)"


def benchmarks(with_imagenet: bool) -> dict[str, tuple[str, tuple[tuple[str, Any], ...]]]:
    """label -> (benchmark, options): a small instance of each (random-init supernets: plumbing only)."""
    from nasrepro.bench.paths import data_dir

    out: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {
        "toy": ("toy", ()),
        "nb201 (embedded)": ("nb201", (("dataset", "cifar10"), ("table", "embedded"))),
        "nb201-live (mnist, tiny)": ("nb201-live", (("config", "tiny"), ("dataset", "mnist"))),
        "nb201-zc (synflow, mnist stand-in)": ("nb201-zc", (("batch", 16), ("images", "mnist"), ("proxies", "synflow"))),
        "supernet mnist-small": ("supernet", (("config", "mnist-small"),)),
        "supernet cifar10-small": ("supernet", (("config", "cifar10-small"),)),
    }
    root = data_dir()
    if root is not None and (root / "nb201" / "nb201_latency_ms.csv").exists():
        out["nb201 + latency (pixel3 <= 8 ms)"] = ("nb201", (("dataset", "cifar10"), ("latency_device", "pixel3"),
                                                            ("latency_limit_ms", 8.0), ("table", "embedded")))
    if with_imagenet and root is not None and (root / "images" / "imagenet" / "val100").is_dir():
        out["supernet imagenet (val100)"] = ("supernet", (("bn_batches", 1), ("config", "imagenet"),
                                                          ("data_root", str(root / "images" / "imagenet" / "val100"))))
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--evals", type=int, default=6, help="evaluations per cell (default 6)")
    p.add_argument("--with-imagenet", action="store_true", help="also the 224 px ImageNet supernet (slow on CPU)")
    p.add_argument("--out", default=None, help="output folder (default results/)")


def cell(spec: RunSpec) -> tuple[str, str]:
    """('runs' | 'does not apply' | 'fails', detail) for one method on one benchmark."""
    from nasrepro.bench.runner import _cached_benchmark, compute

    try:
        bench = _cached_benchmark(spec.bench, spec.bench_options)
    except Exception as err:  # noqa: BLE001 - the matrix reports every failure, it does not stop
        return "fails", f"benchmark: {type(err).__name__}: {err}"
    from nasrepro.methods.base import get_method, resolve_method

    reason = get_method(spec.method).applies_to(bench.space)
    if reason:
        return "does not apply", reason
    try:  # a variant that needs a per-run input (a transfer source) has no run without one
        resolve_method(spec.method, dict(spec.params))
    except ValueError as err:
        return "does not apply", f"alone: {err}"
    t0 = time.process_time()
    try:
        rows, _ = compute(spec)
    except Exception as err:  # noqa: BLE001
        return "fails", f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    n = sum(r.get("type") == "step" for r in rows)
    return "runs", f"{n} evals, {time.process_time() - t0:.1f} CPU s"


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from nasrepro.bench.analysis import write_table
    from nasrepro.bench.provenance import provenance
    from nasrepro.methods.base import method_names

    if not 1 <= args.evals <= 1000:
        raise ValueError(f"--evals must be between 1 and 1000, got {args.evals}")
    out = check_out_dir(args.out if args.out is not None else results_dir())
    benches = benchmarks(args.with_imagenet)
    rows, details = [], []
    for name in method_names():
        row: dict[str, str] = {"method": name}
        for label, (bench, opts) in benches.items():
            status, detail = cell(RunSpec(bench, name, 0, f"{args.evals}evals", opts))
            row[label] = status
            details.append({"method": name, "benchmark": label, "status": status, "detail": detail})
            print(f"{name:<18} {label:<34} {status}: {detail}", flush=True)
        rows.append(row)
    matrix, detail = pd.DataFrame(rows), pd.DataFrame(details)
    counts = detail["status"].value_counts().to_dict()
    notes = [f"Each cell: seed 0, {args.evals} evaluations through the runner's worker function; supernets are "
             "randomly initialised (plumbing, not accuracy).",
             "Totals: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())), "",
             "Why a method does not apply, and what failed:", ""]
    notes += [f"- {r.method} on {r.benchmark}: {r.status}: {r.detail}" for r in detail.itertuples()
              if r.status != "runs"]
    prov = provenance()
    write_table(matrix, Path(out) / "method_benchmark_matrix", prov, title="Every method x every benchmark",
                notes=notes, formats=("md", "csv"))
    write_table(detail, Path(out) / "method_benchmark_matrix_detail", prov, formats=("csv",))
    print(f"wrote {Path(out) / 'method_benchmark_matrix.md'}")
    return 0
