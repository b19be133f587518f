"""Does PCF-ES's freezing rule generalise to aging evolution? REA vs REA+freeze on one supernet (issue 15).

Every (population, method, seed) is a :class:`bench.runner.RunSpec` on the ``supernet`` benchmark with
the prefix feature cache on (``cache_mb``) for both methods, the same seeds and the same evaluation
budget; ``rea+freeze`` (``methods/rea_freeze.py``) stops early only when every block froze. Per run:
freeze events (window, blocks), best search-val top-1 (= the found subnet's; its test top-1 beside),
the measured evaluation seconds (the steps' ``cost_s``, the runs' ``seedK.ledger.json``) and the saving
per evaluation vs REA of the same seed and population, the machine-independent share of multiply-adds
served from the cache, and, for plain REA, the first window at which the rule *would* have frozen.

Both methods make the same draws until the first freeze, so their window 0 is the same subnets: the
ratio of its seconds per evaluation (``win0_cost_ratio``) shows how much the shared machine's speed
moved between the two runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.runner import RunSpec

NAME = "rea-freeze"
DESCRIPTION = "REA vs REA+freeze (PCF-ES's freezing rule over windows of P evaluations) on one supernet"
METHODS = ("rea", "rea+freeze")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce.cmd_core import add_grid_arguments

    p.add_argument("--config", default="mnist-small", help="supernet config (default mnist-small)")
    p.add_argument("--checkpoint", default=None, help="trained supernet; default: the cached one (trained if absent)")
    p.add_argument("--random-init", action="store_true", help="no training: a randomly initialised supernet (tests)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--evals", type=int, default=300, help="evaluations per run (default 300)")
    p.add_argument("--population", default="10", help="P, comma-separated for several (default 10, REA's default)")
    p.add_argument("--sample", default="3", help="S per population, comma-separated (default 3)")
    p.add_argument("--threshold", type=float, default=0.7, help="T (PCF-ES's 0.7)")
    p.add_argument("--monitor-size", type=int, default=3, help="f (PCF-ES's 3)")
    p.add_argument("--cache-mb", default="4096", help="feature-cache budget in MiB (both methods)")
    p.add_argument("--bn-batches", type=int, default=None)
    p.add_argument("--cost", default="measured", choices=("measured", "flops"))
    p.add_argument("--device", default="auto")
    add_grid_arguments(p, "processes running searches side by side (default: one per core)")
    p.add_argument("--runs", default=None, help="folder of the run files (default OUT/runs, git-ignored under results/)")
    p.add_argument("--out", default=None, help="table folder (default results/rea_freeze)")


def _ints(text: str, name: str) -> list[int]:
    try:
        vals = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--{name} {text!r}: comma-separated integers, e.g. 10,50") from None
    if not vals or min(vals) < 1:
        raise ValueError(f"--{name} {text!r}: every value must be >= 1")
    return vals


def _check_args(args: argparse.Namespace) -> tuple[list[int], list[tuple[int, int]]]:
    from nasrepro.bench.supernet.prefix_cache import parse_cache_mb
    from nasrepro.reproduce.cmd_core import grid_options, parse_seeds

    seeds = parse_seeds(args.seeds)
    pops, samples = _ints(args.population, "population"), _ints(args.sample, "sample")
    if len(samples) == 1:
        samples = samples * len(pops)
    if len(samples) != len(pops):
        raise ValueError(f"--sample {args.sample!r}: one value, or one per --population ({len(pops)})")
    if any(s > p for p, s in zip(pops, samples)):
        raise ValueError("--sample must not exceed its --population")
    if not 0 < args.threshold <= 1:
        raise ValueError(f"--threshold T must be in (0, 1], got {args.threshold}")
    if args.monitor_size < 0:
        raise ValueError(f"--monitor-size f must be >= 0, got {args.monitor_size}")
    if args.evals < max(pops):
        raise ValueError(f"--evals {args.evals} is below the population {max(pops)}: no window would end")
    parse_cache_mb(args.cache_mb)
    grid_options(args, 1)
    return seeds, list(zip(pops, samples))


def build_specs(args: argparse.Namespace, ckpt: str | None, seeds: list[int],
                settings: list[tuple[int, int]]) -> list[RunSpec]:
    from nasrepro.reproduce.repro_pcf_es import supernet_options

    base = supernet_options(args, ckpt)
    specs = []
    for pop, sample in settings:  # seed-major, REA first: a pair runs back to back on the machine
        for seed in seeds:
            for method in METHODS:
                params: dict[str, Any] = {"population_size": pop, "sample_size": sample}
                if method == "rea+freeze":
                    params.update(threshold=args.threshold, monitor_size=args.monitor_size)
                specs.append(RunSpec("supernet", method, seed, f"{args.evals}evals", tuple(sorted(base.items())),
                                     tuple(sorted(params.items())), tag=f"{method}-P{pop}"))
    return specs


def run(args: argparse.Namespace) -> int:
    from nasrepro.bench.paths import check_out_dir, results_dir
    from nasrepro.bench.runner import run_grid
    from nasrepro.reproduce.cmd_core import grid_options
    from nasrepro.reproduce.repro_pcf_es import ensure_checkpoint

    seeds, settings = _check_args(args)
    if args.checkpoint:
        from nasrepro.bench.supernet.checkpoint import load_checkpoint

        load_checkpoint(args.checkpoint, args.config)
    out = check_out_dir(args.out if args.out is not None else results_dir() / "rea_freeze")
    runs_dir = check_out_dir(args.runs) if args.runs else out / "runs"
    ckpt, ckpt_note = ensure_checkpoint(args.config, args.checkpoint, args.random_init, args.data_root)
    print(f"supernet: {ckpt_note}", flush=True)
    specs = build_specs(args, ckpt, seeds, settings)
    paths = run_grid(specs, runs_dir, **grid_options(args, len(specs)))
    report(paths, out, args.config, ckpt_note, runs_dir)
    return 0


# ----------------------------------------------------------------------------- analysis


def _arch(text: str) -> tuple[int, ...]:
    return tuple(int(c) for c in text.split(","))


def _would_freeze(archs: list[tuple[int, ...]], pop: int, threshold: float, choices: tuple[int, ...]) -> int | None:
    """For a run without freezing: the first window whose candidates pass PCF-ES's initial test."""
    from nasrepro.methods._freezing import freeze_stop, majority

    for w in range(len(archs) // pop):
        _, shares = majority(archs[w * pop:(w + 1) * pop], len(choices), choices)
        if freeze_stop(shares, 0, threshold=threshold, ratio=0.5, max_at_once=8, monitor_size=0, progressive=False):
            return w
    return None


def _row(run: dict[str, Any], table: Any, threshold: float, choices: tuple[int, ...]) -> dict[str, Any]:
    from nasrepro.bench.runner import ledger_path

    steps, final, meta = run["steps"], run["final"], run["meta"]
    params = meta.get("params", {})
    pop = int(params["population_size"])
    archs = [_arch(s["arch"]) for s in steps]
    cost = np.array([s["cost_s"] for s in steps], dtype=float)
    total = sum(table.flops(a) for a in archs)
    skipped = sum(table.prefix_flops(a, int(s["extra"].get("prefix_len", 0)))
                  for a, s in zip(archs, steps) if s["extra"].get("prefix_len"))
    macs = [table.flops(a) - (table.prefix_flops(a, int(s["extra"]["prefix_len"])) if s["extra"].get("prefix_len") else 0)
            for a, s in zip(archs, steps)]
    side = ledger_path(run["path"])
    timing = json.loads(side.read_text()) if side.exists() else {}
    last = steps[-1]["extra"]
    events = last.get("freeze_events")
    # 1-based number of the first evaluation asked with a frozen prefix (the one after the freezing tell)
    frozen_at = next((i + 2 for i, s in enumerate(steps) if s["extra"].get("n_frozen")), None)
    if frozen_at is not None and frozen_at > len(steps):
        frozen_at = None
    return {
        "method": meta["method"], "P": pop, "S": params["sample_size"], "seed": meta["seed"],
        "n_evals": final["n_evals"], "n_unique": len(set(archs)),
        "freeze_events": ";".join(f"w{g}:b{a}-{b}" for g, a, b in events) or "none" if events is not None else "-",
        "n_frozen": last.get("n_frozen", "-"),
        "frozen_from_eval": frozen_at if frozen_at is not None else "-",
        "rule_would_freeze_window": "-" if events is not None else
        (lambda w: "never" if w is None else w)(_would_freeze(archs, pop, threshold, choices)),
        "best_val_top1": round(max(s["score"] for s in steps), 3),
        "test_top1": round(float(final["final_test_acc"]), 3),
        "search_s": round(float(cost.sum()), 2), "s_per_eval": round(float(cost.mean()), 5),
        "win0_s_per_eval": float(cost[:pop].mean()),
        "flops_skipped_pct": round(100 * skipped / total, 1),
        "cpu_s": round(float(timing.get("cpu_s", np.nan)), 1), "wall_s": round(float(timing.get("wall_s", np.nan)), 1),
        "_macs": macs, "_scores": [float(s["score"]) for s in steps],
    }


def report(paths: list[Path], out: Path, config: str, ckpt_note: str, runs_dir: Path) -> None:
    import pandas as pd
    from nasrepro.bench.analysis import load_runs, paired_difference, run_params, verdict, write_table
    from nasrepro.bench.provenance import provenance
    from nasrepro.bench.supernet.configs import get_config
    from nasrepro.bench.supernet.flops import flops_table

    runs = load_runs(paths)
    pf = run_params(runs, next(r["meta"]["tag"] for r in runs if r["meta"]["method"] == "rea+freeze"))
    threshold = float(pf.get("threshold", 0.7))
    choices = get_config(config).choices
    df = pd.DataFrame([_row(r, flops_table(config), threshold, choices) for r in runs])
    base = df[df["method"] == "rea"].set_index(["P", "seed"])
    key = list(zip(df["P"], df["seed"]))
    df["saving_per_eval_pct"] = [round(100 * (1 - s / base.loc[k, "s_per_eval"]), 1) for s, k in zip(df["s_per_eval"], key)]
    # CPU seconds of the whole run (search + the found subnet's final evaluation) per evaluation: less moved by
    # other processes on a shared machine than the measured (wall) evaluation seconds
    cpu_per_eval = df["cpu_s"] / df["n_evals"]
    base_cpu = (base["cpu_s"] / base["n_evals"]).to_dict()
    df["cpu_saving_per_eval_pct"] = [round(100 * (1 - c / base_cpu[k]), 1) for c, k in zip(cpu_per_eval, key)]
    df["win0_cost_ratio"] = [round(w / base.loc[k, "win0_s_per_eval"], 2) for w, k in zip(df["win0_s_per_eval"], key)]
    df["val_diff_pt"] = [round(v - base.loc[k, "best_val_top1"], 3) for v, k in zip(df["best_val_top1"], key)]
    # equal compute: REA's best search-val after the evaluations whose multiply-adds add up to REA+freeze's (cache
    # included; machine-independent), i.e. what plain REA finds with the same work
    ev, bv = [], []
    for m, k, macs in zip(df["method"], key, df["_macs"]):
        if m == "rea":
            ev.append("-")
            bv.append(np.nan)
            continue
        n = int(np.searchsorted(np.cumsum(base.loc[k, "_macs"]), sum(macs), side="right"))
        ev.append(n)
        bv.append(round(max(base.loc[k, "_scores"][:max(n, 1)]), 3))
    df["rea_evals_same_macs"] = ev
    df["val_diff_same_macs_pt"] = [round(b - v, 3) if np.isfinite(v) else "-" for b, v in zip(df["best_val_top1"], bv)]
    df = df.drop(columns=["win0_s_per_eval", "_macs", "_scores"])
    cols = ["method", "P", "S", "seed", "n_evals", "n_unique", "freeze_events", "n_frozen", "frozen_from_eval",
            "rule_would_freeze_window", "best_val_top1", "val_diff_pt", "rea_evals_same_macs", "val_diff_same_macs_pt",
            "test_top1", "search_s", "s_per_eval",
            "saving_per_eval_pct", "win0_cost_ratio", "flops_skipped_pct", "cpu_s", "cpu_saving_per_eval_pct", "wall_s"]
    df = df[cols]
    lines = ["| P, S | froze (runs) | saving per evaluation, % [95% CI over seeds] | CPU s saving per evaluation, % "
             "| multiply-adds from cache, % | best search-val vs REA, pt [95% CI] | test top-1 vs REA, pt "
             "| best search-val vs REA at the same multiply-adds, pt (REA evaluations) |", "|---|---|---|---|---|---|---|---|"]
    verdicts = []
    for pop, g in df[df["method"] == "rea+freeze"].groupby("P"):
        b = base.loc[pop].loc[g["seed"]]
        sv = paired_difference(g["saving_per_eval_pct"].to_numpy(), np.zeros(len(g)))
        vd = paired_difference(g["best_val_top1"].to_numpy(), b["best_val_top1"].to_numpy())
        td = float((g["test_top1"].to_numpy() - b["test_top1"].to_numpy()).mean())
        froze = int((g["freeze_events"] != "none").sum())
        lines.append(f"| {pop}, {g['S'].iloc[0]} | {froze}/{len(g)} | {verdict(sv, '%', 1)} "
                     f"| {g['cpu_saving_per_eval_pct'].mean():.1f} | {g['flops_skipped_pct'].mean():.1f} | {verdict(vd)} "
                     f"| {td:+.2f} | {pd.to_numeric(g['val_diff_same_macs_pt']).mean():+.2f} "
                     f"({', '.join(map(str, g['rea_evals_same_macs']))}) |")
        verdicts.append(f"P={pop}: freezing triggered in {froze}/{len(g)} runs (first frozen evaluation "
                        f"{', '.join(map(str, g['frozen_from_eval']))}); {sv['diff']:.1f}% less measured time "
                        f"({g['cpu_saving_per_eval_pct'].mean():.1f}% less CPU time) per evaluation; "
                        f"best search-val {vd['diff']:+.2f} pt vs REA at the same evaluations, "
                        f"{pd.to_numeric(g['val_diff_same_macs_pt']).mean():+.2f} pt vs REA at the same multiply-adds; "
                        f"{g['n_unique'].mean():.0f} distinct subnets of {g['n_evals'].mean():.0f} evaluations "
                        f"(REA {b['n_unique'].mean():.0f})")
    meta = runs[0]["meta"]
    opts = meta["settings"]["bench_options"]
    notes = [
        f"config {config}; supernet {ckpt_note}; cache {opts.get('cache_mb')} MiB for both methods; device "
        f"{meta.get('device')}; cost: {meta.get('cost_model', '?')}",
        f"same seeds, {int(df['n_evals'].max())} evaluations per run (rea+freeze stops early only when every block "
        f"froze); rea+freeze: T={pf.get('threshold')}, f={pf.get('monitor_size')}, R={pf.get('block_ratio')}, at "
        f"most {pf.get('max_at_once')} blocks at once, share over each window of P evaluations",
        "`freeze_events` wG:bA-B = after window G (evaluations G*P .. G*P+P-1) blocks A..B froze; "
        "`frozen_from_eval`: the first evaluation asked with a frozen prefix; `rule_would_freeze_window` (REA rows): "
        "the first window of plain REA whose candidates pass the initial freeze test",
        "`best_val_top1` = the found subnet's search-val top-1; `s_per_eval`: measured seconds per evaluation "
        "(BN recalibration + validation); `saving_per_eval_pct` vs REA of the same P and seed; `win0_cost_ratio`: "
        "window 0 (the same subnets in both runs) vs REA, far from 1 = the machine's speed moved between the runs; "
        "`flops_skipped_pct`: multiply-adds served from the prefix cache (machine-independent)",
        "`rea_evals_same_macs`: how many evaluations of plain REA (same seed) add up to the multiply-adds REA+freeze "
        "computed in all its evaluations; `val_diff_same_macs_pt`: REA+freeze's best search-val minus REA's best "
        "within those evaluations (equal compute)",
        "`cpu_saving_per_eval_pct`: the run's CPU seconds (search and the final evaluation) per evaluation vs REA",
        f"cpu_s, wall_s: per run (ledger); total {df['cpu_s'].sum():.0f} s CPU, {df['wall_s'].sum():.0f} s wall",
        "", "## Summary (mean over seeds)", "", *lines, "", *[f"- {v}" for v in verdicts],
    ]
    prov = provenance(sources={"checkpoint": opts.get("checkpoint", "random init"), "runs": str(runs_dir)},
                      extra={"seeds": ",".join(map(str, sorted(set(df["seed"]))))})
    out.mkdir(parents=True, exist_ok=True)
    write_table(df, out / "table", prov, f"REA vs REA+freeze on {config} at equal evaluation counts", notes,
                formats=("md", "csv"), floatfmt=".4g")
    print(f"written: {out / 'table.md'}")
    print("\n".join([*lines, "", *verdicts]))
