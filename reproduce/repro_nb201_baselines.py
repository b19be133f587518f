"""NB201 Table (non-weight-sharing baselines): RS, REA, REINFORCE, published numbers beside ours.

Protocol of the NB201 paper (Dong & Yang 2020, as quoted by NASWOT Table 2a): every search
runs on CIFAR-10 (the 'cifar10-valid' split) with a 12,000 s simulated budget and sees the
12-epoch validation accuracy; the architecture it returns is then reported by its 200-epoch
accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120 (mean ± std over 500 runs).
``--protocol per-dataset`` instead searches on each dataset with its own signal (NATS style).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.io import atomic_write_text
from bench.metrics import fmt_pm, incumbent_on_grid
from bench.paths import results_dir
from bench.plots import curves_figure
from bench.reference import load_reference_csv
from bench.registry import make_benchmark
from bench.runner import Budget, RunSpec, load_run, run_grid

if TYPE_CHECKING:  # pandas loads inside the functions that use it: `nasrepro --help` stays light
    import pandas as pd

NAME = "nb201-baselines"
DESCRIPTION = "NB201 paper baselines (RS, REA, REINFORCE; 12,000 s; 3 datasets) beside the published table"
METHODS = {"RS": "random", "REA": "rea", "REINFORCE": "reinforce"}
DATASETS = ("cifar10", "cifar100", "imagenet16-120")
REF_COLS = {"cifar10": ("c10_valid", "c10_test"), "cifar100": ("c100_valid", "c100_test"),
            "imagenet16-120": ("in16_valid", "in16_test")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", default=None, help="NB201 table (default: $NASREPRO_DATA CSV, else embedded)")
    p.add_argument("--runs", type=int, default=500, help="runs per method (published: 500)")
    p.add_argument("--budget", default="12000s", help="search budget (published: 12000s)")
    p.add_argument("--protocol", choices=("nb201", "per-dataset"), default="nb201",
                   help="nb201: search on CIFAR-10, report all datasets (published); per-dataset: search each")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", default=None, help="output folder (default results/)")


def _specs(table: str | None, runs: int, budget: str, search_sets: tuple[str, ...]) -> list[RunSpec]:
    specs = []
    for ds in search_sets:
        opts: dict[str, Any] = {"dataset": ds, "fidelity": "12"}
        if table:
            opts["table"] = table
        for label, method in METHODS.items():
            for seed in range(runs):
                specs.append(RunSpec("nb201", method, seed, budget, tuple(sorted(opts.items())),
                                     tag=label, group=f"search-{ds}"))
    return specs


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    if args.runs < 1:
        raise ValueError("--runs must be at least 1")
    Budget.parse(args.budget)
    out = Path(args.out) if args.out else results_dir()
    runs_dir = out / "runs" / "nb201_baselines"
    search_sets = ("cifar10",) if args.protocol == "nb201" else DATASETS
    table_kw = {"table": args.table} if args.table else {}
    benches = {ds: make_benchmark("nb201", dataset=ds, fidelity="12", **table_kw) for ds in DATASETS
               if _has_dataset(ds, table_kw)}
    specs = _specs(args.table, args.runs, args.budget, search_sets)
    paths = run_grid(specs, runs_dir, workers=args.workers or (os.cpu_count() or 1))
    rows = []
    for path, spec in zip(paths, specs):
        final = load_run(path)["final"]
        arch = benches[spec.group.removeprefix("search-")].space.from_str(final["final_arch"])
        row = {"method": spec.tag, "search_dataset": spec.group.removeprefix("search-"), "seed": spec.seed,
               "n_evals": final["n_evals"]}
        for ds, bench in benches.items():
            if args.protocol == "per-dataset" and ds != row["search_dataset"]:
                continue
            f = bench.final(arch)
            row[f"{ds}_val"], row[f"{ds}_test"] = f.get("val_acc", np.nan), f.get("test_acc", np.nan)
        rows.append(row)
    per_run = pd.DataFrame(rows)
    table = _table(per_run, benches, args)
    _write(out, per_run, table, benches, args, specs, paths)
    print(_markdown(table, benches, args))
    return 0


def _has_dataset(ds: str, table_kw: dict[str, Any]) -> bool:
    try:
        make_benchmark("nb201", dataset=ds, fidelity="12", **table_kw)
    except ValueError as err:
        if ds == "cifar10":
            raise
        print(f"note: {ds} skipped: {err}")
        return False
    return True


def _table(per_run: pd.DataFrame, benches: dict[str, Any], args: argparse.Namespace) -> pd.DataFrame:
    import pandas as pd

    ref_df = load_reference_csv("nb201_baselines.csv")
    ref = ref_df.set_index("method") if "method" in ref_df else None
    rows = []
    for label in METHODS:
        mine = per_run[per_run["method"] == label]
        ours: dict[str, Any] = {"method": label, "source": f"ours ({len(mine)} runs)",
                                "mean_evals": round(float(mine["n_evals"].mean()), 1)}
        runs = int(ref.loc[label, "runs"]) if ref is not None else "?"
        pub: dict[str, Any] = {"method": label, "source": f"published ({runs} runs)", "mean_evals": ""}
        for ds in DATASETS:
            vcol, tcol = REF_COLS[ds]
            for kind, col in (("val", vcol), ("test", tcol)):
                key = f"{ds}_{kind}"
                ours[key] = fmt_pm(mine[key].mean(), mine[key].std(ddof=0)) if key in mine else "n/a"
                pub[key] = ref.loc[label, col] if ref is not None else "unavailable"
        rows += [ours, pub]
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame, benches: dict[str, Any], args: argparse.Namespace) -> str:
    prov = benches["cifar10"].describe()
    lines = [
        "# NAS-Bench-201 baselines: ours beside the published table",
        "",
        f"Protocol: {args.protocol} (search on {'CIFAR-10' if args.protocol == 'nb201' else 'each dataset'}), "
        f"budget {args.budget}, 12-epoch validation accuracy as the search signal, 200-epoch accuracy reported.",
        "Published: NB201 paper (Dong & Yang 2020), quoted by NASWOT Table 2(a) (shared/reference/nb201_baselines.csv).",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in prov.items()]
    lines += ["", table.to_markdown(index=False), ""]
    return "\n".join(lines)


def _write(out: Path, per_run: pd.DataFrame, table: pd.DataFrame, benches: dict[str, Any],
           args: argparse.Namespace, specs: list[RunSpec], paths: list[Path]) -> None:
    atomic_write_text(out / "nb201_baselines.csv", table.to_csv(index=False))
    atomic_write_text(out / "nb201_baselines_runs.csv", per_run.to_csv(index=False))
    atomic_write_text(out / "nb201_baselines.md", _markdown(table, benches, args))
    # search curves: incumbent 12-epoch validation accuracy vs simulated seconds, bands over runs
    timed = Budget.parse(args.budget).seconds is not None
    grid = np.linspace(0, Budget.parse(args.budget).seconds, 200) if timed else np.arange(
        1, (Budget.parse(args.budget).evals or 1) + 1)
    panels: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
    for spec, path in zip(specs, paths):
        steps = load_run(path)["steps"]
        if timed:
            y = incumbent_on_grid([s["cum_cost_s"] for s in steps], [s["score"] for s in steps], grid)
        else:
            y = np.maximum.accumulate([s["score"] for s in steps])
        panel = panels.setdefault(spec.group.removeprefix("search-"), (grid, {}))
        panel[1].setdefault(spec.tag, []).append(y)
    panels = {k: (x, {m: np.vstack(v) for m, v in c.items()}) for k, (x, c) in panels.items()}
    curves_figure(panels, out / "nb201_baselines.png",
                  xlabel="simulated search seconds" if timed else "evaluations",
                  ylabel="incumbent 12-epoch val acc (%)", title="NB201 baselines: search curves (mean ± std)")
