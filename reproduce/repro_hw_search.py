"""Hardware-aware search on NB201: the best accuracy found under a latency budget, on three devices.

Every method searches the NB201 space constrained to the cells whose measured latency on the device is
within the budget (``bench/nb201/latency.py``: HW-NAS-Bench latencies as redistributed by HELP), with
the NB201 protocol otherwise (12-epoch validation accuracy as the signal, the found cell reported by its
200-epoch test accuracy). Budgets are quantiles of the device's latency distribution, so that each
keeps a known share of the space. Beside ours: the table's true Pareto front (the best test accuracy
of any cell within the budget) and the unconstrained optimum.

Specs + analysis: one RunSpec per (device, budget, method, seed), one run_grid.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.paths import check_out_dir, results_dir
from nasrepro.bench.runner import RunSpec

NAME = "hw-search"
DESCRIPTION = "latency-constrained search on NB201 (3 devices, budgets as latency quantiles): best accuracy vs budget"
DEVICES = ("eyeriss", "pixel3", "raspi4")  # an edge accelerator (no edge GPU in the table), a phone, a Pi
QUANTILES = (0.1, 0.25, 0.5, 0.75)
METHODS: dict[str, tuple[str, tuple[str, ...]]] = {  # label -> (method, wrappers)
    "RS": ("random", ()),
    "REA": ("rea", ()),
    "REINFORCE": ("reinforce", ()),
    "BP": ("bp", ()),
    "REA+warmup": ("rea", ("warmup:n=1000,pool=10,proxy={proxy}{scores}",)),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce.cmd_core import add_grid_arguments

    p.add_argument("--devices", default=",".join(DEVICES), help="latency devices (CSV columns), comma-separated")
    p.add_argument("--quantiles", default=",".join(map(str, QUANTILES)),
                   help="latency budgets as quantiles of each device's latency over all cells (plus no budget)")
    p.add_argument("--seeds", default="0-19", help="seeds per (device, budget, method)")
    p.add_argument("--budget", default="100evals", help="search budget per run (default 100evals)")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--table", default=None, help="NB201 table (default: $NASREPRO_DATA CSV)")
    p.add_argument("--methods", default=",".join(METHODS), help="subset of: " + ", ".join(METHODS))
    p.add_argument("--proxy", default="params", help="warmup proxy: params (analytic) or a column of --scores")
    p.add_argument("--scores", default=None, help="scores.csv of 'nasrepro correlate --archs all' for --proxy")
    add_grid_arguments(p)
    p.add_argument("--out", default=None, help="output folder (default results/hw_search)")


def budgets(latency: np.ndarray, quantiles: list[float]) -> list[float | None]:
    """Latency limits (ms) at the given quantiles of the device's latencies, then None (no budget)."""
    return [float(np.round(np.quantile(latency, q), 4)) for q in quantiles] + [None]


def specs(devices: list[str], limits: dict[str, list[float | None]], methods: list[str], seeds: list[int],
          budget: str, dataset: str, table: str | None, proxy: str, scores: str | None) -> list[RunSpec]:
    out = []
    for dev in devices:
        for limit in limits[dev]:
            opts: dict[str, Any] = {"dataset": dataset, "latency_device": dev}
            if limit is not None:
                opts["latency_limit_ms"] = limit
            if table:
                opts["table"] = table
            group = f"{dev}/{'none' if limit is None else f'{limit:g}ms'}"
            for label in methods:
                method, wraps = METHODS[label]
                wraps = tuple(w.format(proxy=proxy, scores=f",scores={scores}" if scores else "") for w in wraps)
                out += [RunSpec("nb201", method, s, budget, tuple(sorted(opts.items())), tag=label, group=group,
                                wrappers=wraps) for s in seeds]
    return out


def run(args: argparse.Namespace) -> int:
    from nasrepro.bench.nb201.benchmark import make_nb201
    from nasrepro.bench.runner import Budget, run_grid
    from nasrepro.reproduce.cmd_core import grid_options, parse_seeds

    seeds = parse_seeds(args.seeds)
    Budget.parse(args.budget)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"--methods {args.methods!r}: choose from {', '.join(METHODS)}")
    try:
        quantiles = [float(q) for q in args.quantiles.split(",") if q.strip()]
    except ValueError:
        raise ValueError(f"malformed --quantiles {args.quantiles!r}: use e.g. 0.1,0.25,0.5") from None
    if not quantiles or not all(0 < q <= 1 for q in quantiles):
        raise ValueError(f"--quantiles {args.quantiles!r}: each must be in (0, 1]")
    out = check_out_dir(args.out if args.out is not None else results_dir() / "hw_search")
    table_kw = {"table": args.table} if args.table else {}
    limits = {}
    for dev in devices:  # a bad device or table fails here, in one line, before any run
        bench = make_nb201(args.dataset, latency_device=dev, **table_kw)
        limits[dev] = budgets(np.asarray(bench._latency_ms), quantiles)
    grid = specs(devices, limits, methods, seeds, args.budget, args.dataset, args.table, args.proxy, args.scores)
    if args.scores or args.proxy != "params":
        from nasrepro.reproduce.cmd_core import check_params

        check_params("rea", make_nb201(args.dataset, **table_kw), {}, grid[-1].wrappers or ())
    paths = run_grid(grid, out / "runs", **grid_options(args, len(grid)))
    print(analyse(out, grid, paths, args))
    return 0


def front(latency: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The table's Pareto front: for each latency, the best test accuracy of any cell at most that slow."""
    order = np.argsort(latency, kind="stable")
    return latency[order], np.maximum.accumulate(test[order])


def analyse(out: Path, grid: list[RunSpec], paths: list[Path], args: argparse.Namespace) -> str:
    import pandas as pd
    from nasrepro.bench.analysis import load_runs, paired_difference, verdict, write_table
    from nasrepro.bench.nb201.benchmark import make_nb201
    from nasrepro.bench.provenance import provenance

    table_kw = {"table": args.table} if args.table else {}
    runs = load_runs(paths)
    rows = []
    for spec, run in zip(grid, runs):
        opts = dict(spec.bench_options)
        rows.append({"device": opts["latency_device"], "limit_ms": opts.get("latency_limit_ms", np.inf),
                     "method": spec.tag, "seed": spec.seed, "test_acc": run["final"]["final_test_acc"],
                     "latency_ms": run["final"]["final_latency_ms"], "n_evals": run["final"]["n_evals"]})
    per_run = pd.DataFrame(rows)
    summary, fronts, notes = [], {}, []
    for dev, g_dev in per_run.groupby("device", sort=False):
        bench = make_nb201(args.dataset, latency_device=dev, **table_kw)
        lat = np.asarray(bench._latency_ms)
        test = bench.table.column(bench.dataset, "test_200")
        fronts[dev] = (lat, test)
        for limit, g in g_dev.groupby("limit_ms", sort=True):
            feasible = lat <= limit
            best = float(np.nanmax(test[feasible]))
            share = float(feasible.mean())
            rs = g[g["method"] == "RS"].set_index("seed")["test_acc"]
            for method, gm in g.groupby("method", sort=False):
                row = {"device": dev, "latency budget (ms)": "none" if np.isinf(limit) else f"{limit:g}",
                       "feasible cells": f"{share:.0%}", "method": method, "runs": len(gm),
                       "test acc (%)": f"{gm['test_acc'].mean():.2f}±{gm['test_acc'].std(ddof=0):.2f}",
                       "gap to feasible best (pt)": round(best - gm["test_acc"].mean(), 2),
                       "within budget": f"{(gm['latency_ms'] <= limit).mean():.0%}"}
                row["vs RS (paired 95% CI)"] = "-"
                if method != "RS" and len(rs):
                    paired = gm.set_index("seed")["test_acc"].reindex(rs.index)
                    row["vs RS (paired 95% CI)"] = verdict(paired_difference(paired, rs))
                summary.append(row)
    table = pd.DataFrame(summary)
    prov = provenance(sources={"table": make_nb201(args.dataset, **table_kw).describe().get("table_path", "?"),
                               "latency": make_nb201(args.dataset, latency_device=DEVICES[0], **table_kw)
                               .describe().get("latency_source", "?")})
    unconstrained = {dev: float(np.nanmax(t)) for dev, (_, t) in fronts.items()}
    notes += [f"Search: {grid[0].budget} per run, {args.dataset}, 12-epoch validation accuracy as the signal; the "
              "found cell reported by its 200-epoch test accuracy; budgets are quantiles "
              f"{args.quantiles} of each device's latency over all 15,625 cells.",
              "gap to feasible best: the best 200-epoch test accuracy of any cell within the budget (the table's "
              "true Pareto front) minus the mean found; 'within budget' checks every found cell's latency.",
              "Unconstrained optimum (test acc): " + ", ".join(f"{d} {v:.2f}" for d, v in unconstrained.items()),
              "The table has no edge-GPU column (HW-NAS-Bench's Jetson): eyeriss, an edge accelerator, stands for "
              "the edge class; pixel3 is the phone, raspi4 the Raspberry Pi.",
              "", "![Pareto](pareto.png)"]
    write_table(table, out / "table", prov, title="Hardware-aware search on NB201 under latency budgets",
                notes=notes)
    write_table(per_run, out / "runs_summary", prov, formats=("csv",))
    _figure(out, per_run, fronts, prov)
    return (out / "table.md").read_text()


def _figure(out: Path, per_run: Any, fronts: dict[str, tuple[np.ndarray, np.ndarray]], prov: dict[str, Any]) -> None:
    from nasrepro.bench.analysis import write_figure
    from nasrepro.bench.plots import pyplot

    plt = pyplot()
    devices = list(fronts)
    fig, axes = plt.subplots(1, len(devices), figsize=(5.2 * len(devices), 4.0), squeeze=False)
    for ax, dev in zip(axes[0], devices):
        lat, test = fronts[dev]
        fx, fy = front(lat, test)
        ax.step(fx, fy, where="post", color="k", lw=1.2, label="table's Pareto front")
        g = per_run[per_run["device"] == dev]
        finite = g[np.isfinite(g["limit_ms"])]
        for method, gm in finite.groupby("method", sort=False):
            agg = gm.groupby("limit_ms")["test_acc"].agg(["mean", "std"])
            ax.errorbar(agg.index, agg["mean"], yerr=agg["std"], marker="o", ms=4, capsize=2, lw=1, label=method)
        ax.axhline(float(np.nanmax(test)), color="grey", ls=":", lw=1, label="unconstrained optimum")
        ax.set_xscale("log")
        if len(finite):
            ax.set_xlim(0.5 * float(finite["limit_ms"].min()), 1.1 * float(lat.max()))
        ax.set_ylim(max(80.0, float(np.nanmin(fy[fy > 0])) if (fy > 0).any() else 0.0), float(np.nanmax(test)) + 0.8)
        ax.set_xlabel(f"latency budget on {dev} (ms)")
        ax.set_ylabel("test acc of found cell (%)")
        ax.set_title(dev)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    write_figure(fig, out / "pareto.png", prov)
