"""PCF-ES Table 1 and Figs. 2/7: SPOS-ES vs CF-ES vs PCF-ES (± importance sampling) on one supernet.

All variants run in one process on the same trained supernet, the same data and the same seeds;
search time is the measured wall time of the subnet evaluations (BN recalibration + validation),
the only thing the variants do differently. Energy comes from NVML/RAPL when readable, else the
column says ``not measured``. ``test_top1`` is the found subnet's top-1 (inherited weights) on a
held-out split that the search never saw.
"""

from __future__ import annotations

import argparse
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.io import atomic_write_text
from bench.metrics import spearman
from bench.paths import check_out_dir, results_dir
from bench.plots import save_figure
from bench.reference import load_reference_csv
from bench.runner import RunResult, run_search

if TYPE_CHECKING:  # pandas loads inside the functions that use it: `nasrepro --help` stays light
    import pandas as pd

NAME = "pcf-es"
DESCRIPTION = "PCF-ES vs CF-ES vs SPOS evolution on one supernet: time saving, accuracy, freezing (Table 1)"
BASELINE = "spos-es"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="mnist-small", help="mnist-small (default, offline) | cifar10-small | imagenet")
    p.add_argument("--checkpoint", default=None, help="trained supernet; default: train one (or reuse the cached one)")
    p.add_argument("--random-init", action="store_true", help="no training: a randomly initialised supernet")
    p.add_argument("--data-root", default=None, help="ImageNet / CIFAR-10 root (default: shared samples or packages)")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--sample-rate", default="0.4", help="importance-sampling rate of the fourth variant (paper 0.4)")
    p.add_argument("--cache-mb", default="4096", help="feature-cache budget in MiB (default 4096)")
    p.add_argument("--threshold", type=float, default=0.7, help="T (paper 0.7 for SPOS)")
    p.add_argument("--monitor-size", type=int, default=3, help="f (paper 3)")
    p.add_argument("--generations", type=int, default=20)
    p.add_argument("--population", type=int, default=50)
    p.add_argument("--bn-batches", type=int, default=None,
                   help="BN-recalibration batches per subnet (default: the config's; imagenet 200)")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2, help="processes running searches side by side (default 2)")
    p.add_argument("--out", default=None, help="output folder (default results/pcf_es/CONFIG)")


def _variants(args: argparse.Namespace, rate: float) -> list[tuple[str, str, dict[str, Any], float]]:
    half = args.population // 2  # official: 25 mutations + 25 crossovers for a population of 50
    evo = {"population_num": args.population, "max_epochs": args.generations, "mutation_num": half,
           "crossover_num": half, "select_num": max(2, args.population // 5)}
    frz = {**evo, "threshold": args.threshold}
    return [
        (BASELINE, "spos-evolution", evo, 1.0),
        ("cf-es", "cf-es", frz, 1.0),
        ("pcf-es", "pcf-es", {**frz, "monitor_size": args.monitor_size}, 1.0),
        (f"pcf-es+is{rate:g}", "pcf-es", {**frz, "monitor_size": args.monitor_size}, rate),
    ]


def ensure_checkpoint(config: str, checkpoint: str | None, random_init: bool, data_root: str | None) -> tuple[str | None, str]:
    """The supernet to search: given, cached, or trained now (time stated)."""
    if checkpoint:
        return checkpoint, f"given: {checkpoint}"
    if random_init:
        return None, "randomly initialised (no training)"
    from reproduce.cmd_supernet import ensure_supernet

    return ensure_supernet(config, checkpoint, data_root)


def generation_shares(res: RunResult, k: int = 10) -> np.ndarray:
    """Per generation: majority share of each block among the top-k subnets seen so far (Fig. 2)."""
    from methods.pcf_es import majority

    n = len(res.records[0].arch.split(","))
    seen: list[tuple[float, tuple[int, ...]]] = []
    rows = []
    gens = [r.extra.get("generation", 0) for r in res.records]
    for i, r in enumerate(res.records):
        seen.append((r.score, tuple(int(c) for c in r.arch.split(","))))
        if i == len(res.records) - 1 or gens[i + 1] != gens[i]:
            top = [a for _, a in sorted(seen, key=lambda t: -t[0])[:k]]
            rows.append(majority(top, n, (4,) * n)[1])
    return np.asarray(rows)


def cumulative_time_by_generation(res: RunResult) -> np.ndarray:
    gens = np.asarray([r.extra.get("generation", 0) for r in res.records])
    cost = np.asarray([r.cost_s for r in res.records])
    return np.cumsum([cost[gens == g].sum() for g in range(gens.max() + 1)])


@lru_cache(maxsize=2)
def _bench(config: str, ckpt: str | None, data_root: str | None, device: str, cache_mb: float, population: int,
           bn_batches: int | None = None):
    import torch

    from bench.supernet.benchmark import make_supernet

    torch.set_num_threads(1)
    bench = make_supernet(config=config, checkpoint=ckpt, data_root=data_root, device=device, cache_mb=cache_mb,
                          bn_batches=bn_batches)
    bench.sample_after = population  # importance weights from the first generation
    return bench


def _job(args: argparse.Namespace, ckpt: str | None, label: str, method: str, params: dict[str, Any],
         rate: float, seed: int, cache_bytes: int | None = None) -> dict[str, Any]:
    """One search in a worker process; returns the table row and what the figures need."""
    from bench.supernet.prefix_cache import PrefixCache, parse_cache_mb

    bench = _bench(args.config, ckpt, args.data_root, args.device, parse_cache_mb(args.cache_mb), args.population,
                   args.bn_batches)
    saved = bench.prefix_provider
    if cache_bytes is not None:
        bench.set_prefix_provider(PrefixCache(cache_bytes, bench.evaluator.device))
    bench.sample_rate = rate
    try:
        t0 = time.perf_counter()
        res = run_search(bench, method, seed, f"{args.population * args.generations}evals", params)
        wall = time.perf_counter() - t0
    finally:
        bench.set_prefix_provider(saved)
        bench.sample_rate = 1.0
    led = res.meta.get("ledger", {})
    m = res.method
    row = {
        "method": label, "seed": seed, "T": params.get("threshold", "-"), "f": params.get("monitor_size", "-"),
        "sample_rate": rate, "search_val_top1": round(float(res.final["final_val_acc"]), 3),
        "test_top1": round(float(res.final["final_test_acc"]), 3),
        "flops_m": round(float(res.final["final_flops_m"]), 3),
        "search_s": round(float(res.cost_s), 3), "wall_s": round(wall, 3), "n_evals": res.n_evals,
        "energy_j": led.get("energy_j", "not measured"),
        "all_frozen_generation": _all_frozen(m) if method != "spos-evolution" else "-",
        "n_frozen": len(getattr(m, "frozen", [])) if method != "spos-evolution" else "-",
        "peak_cache_mb": round(led.get("cache_peak_bytes", 0) / 2**20, 2),
        "bn_recal_s": round(led.get("bn_recal_s", 0.0), 3), "prefix_s": round(led.get("prefix_s", 0.0), 3),
        "suffix_s": round(led.get("suffix_s", 0.0), 3),
        "freeze_events": ";".join(f"g{g}:b{a}-{b}" for g, a, b in getattr(m, "freeze_events", [])),
    }
    return {"row": row, "trajectory": [(r.arch, r.score) for r in res.records], "shares": generation_shares(res),
            "cum_time": cumulative_time_by_generation(res), "freeze_events": list(getattr(m, "freeze_events", [])),
            "ledger": led, "data": dict(bench.data_describe)}


def _data_line(runs: dict) -> str:
    """Where the images came from, as the benchmark describes its data."""
    d = next(iter(runs.values()))["data"]
    return "; ".join(f"{k} {v}" for k, v in d.items() if k in ("data_source", "splits", "preprocessing")) or "-"


def _all_frozen(m: Any) -> str | int:
    """The generation by which every block was frozen, or ``never (k/n)`` with the k frozen at the end."""
    g = getattr(m, "all_frozen_generation", None)
    if g is not None:
        return int(g)
    return f"never ({len(m.frozen)}/{len(m.space.choices)})"


def _sampling_check(args: argparse.Namespace, ckpt: str | None, rate: float, seed: int) -> str:
    """Spearman of subnet top-1 with sampling at ``rate`` vs plain evaluation, over a population."""
    from bench.supernet.prefix_cache import parse_cache_mb

    bench = _bench(args.config, ckpt, args.data_root, args.device, parse_cache_mb(args.cache_mb), args.population,
                   args.bn_batches)
    rng = np.random.default_rng(seed)
    archs: list[tuple[int, ...]] = []
    while len(archs) < 2 * args.population:
        a = bench.space.sample(rng)
        if a not in archs:
            archs.append(a)
    bench.reset()
    full = [bench.query(a, rng).score for a in archs[args.population:]]
    bench.reset()
    bench.sample_rate = rate
    for a in archs[: args.population]:
        bench.query(a, rng)
    est = [bench.query(a, rng).score for a in archs[args.population:]]
    s = bench.sample_set
    bench.sample_rate = 1.0
    bench.reset()
    kept = f"{len(s.indices)} of {s.n_total}" if s is not None else "?"
    return (f"- Importance sampling r={rate:g}: {kept} validation images kept (weights from "
            f"{args.population} warm-up subnets); Spearman of {len(full)} other subnets' top-1, r={rate:g} vs "
            f"r=1.0: **{spearman(full, est):.3f}**; mean |difference| {np.mean(np.abs(np.subtract(full, est))):.2f} pt.")


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor

    import pandas as pd
    from tqdm import tqdm

    from bench.supernet.prefix_cache import parse_cache_mb
    from bench.supernet.sampling import check_sample_rate
    from reproduce.cmd_core import parse_seeds

    seeds = parse_seeds(args.seeds)
    rate = check_sample_rate(args.sample_rate)
    parse_cache_mb(args.cache_mb)
    if not 0 < args.threshold <= 1:
        raise ValueError(f"--threshold T must be in (0, 1], got {args.threshold}")
    if args.bn_batches is not None and args.bn_batches < 1:
        raise ValueError(f"--bn-batches must be >= 1, got {args.bn_batches}")
    if args.monitor_size < 0:
        raise ValueError(f"--monitor-size f must be >= 0, got {args.monitor_size}")
    if args.checkpoint:  # a supernet of another config fails here, in one line, before any work
        from bench.supernet.checkpoint import load_checkpoint

        load_checkpoint(args.checkpoint, args.config)
    out = check_out_dir(args.out if args.out is not None else results_dir() / "pcf_es" / args.config)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    ckpt, ckpt_note = ensure_checkpoint(args.config, args.checkpoint, args.random_init, args.data_root)
    print(f"supernet: {ckpt_note}", flush=True)
    variants = _variants(args, rate)
    jobs = [(args, ckpt, label, m, p, r, seed) for seed in seeds for label, m, p, r in variants]
    pcf_params = variants[2][2]
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futs = [pool.submit(_job, *j) for j in jobs]
        tiny = pool.submit(_job, args, ckpt, "pcf-es (4 KiB cache)", "pcf-es", pcf_params, 1.0, seeds[0], 4096)
        samp = pool.submit(_sampling_check, args, ckpt, rate, seeds[0])
        results = {}
        for f, j in tqdm(zip(futs, jobs), total=len(jobs), desc="searches"):
            results[(j[2], j[6])] = f.result()
            r = results[(j[2], j[6])]["row"]
            tqdm.write(f"seed {r['seed']} {r['method']:<14} evals {r['n_evals']:>4}  search {r['search_s']:8.1f} s  "
                       f"val {r['search_val_top1']:.2f}  test {r['test_top1']:.2f}")
        tiny_res, samp_line = tiny.result(), samp.result()
    table = pd.DataFrame([results[(j[2], j[6])]["row"] for j in jobs])
    base = table[table["method"] == BASELINE].set_index("seed")["search_s"]
    table["saving_pct"] = [round(100 * (1 - s / base[sd]), 1) for s, sd in zip(table["search_s"], table["seed"])]
    base_top1 = table[table["method"] == BASELINE].set_index("seed")["test_top1"]
    table["top1_diff_pt"] = [round(t - base_top1[sd], 3) for t, sd in zip(table["test_top1"], table["seed"])]
    ref_traj = results[("pcf-es", seeds[0])]["trajectory"]
    led = tiny_res["ledger"]
    extra = [
        f"- Tiny cache (4 KiB: {led.get('cache_recomputed', '?')} of {led.get('cache_misses', '?')} prefix batches "
        f"recomputed, peak {led.get('cache_peak_bytes', 0)} B): PCF-ES seed {seeds[0]} trajectory identical to the "
        f"{args.cache_mb} MiB run: **{tiny_res['trajectory'] == ref_traj}** ({len(ref_traj)} evaluations); search "
        f"time {tiny_res['row']['search_s']:.1f} s vs {results[('pcf-es', seeds[0])]['row']['search_s']:.1f} s.",
        samp_line,
        f"- Total wall time of this reproduction: {time.perf_counter() - t_start:.0f} s "
        f"({args.workers} worker processes, 1 thread each).",
    ]
    _write(out, table, results, args, ckpt_note, extra)
    return 0


def _write(out: Path, table: pd.DataFrame, runs: dict, args: argparse.Namespace, ckpt_note: str,
           extra: list[str]) -> None:
    import matplotlib.pyplot as plt
    import pandas as pd

    cols = ["method", "seed", "T", "f", "sample_rate", "search_val_top1", "test_top1", "flops_m", "search_s",
            "saving_pct", "energy_j", "all_frozen_generation"]
    num = ["search_val_top1", "test_top1", "flops_m", "search_s", "saving_pct", "top1_diff_pt", "n_evals"]
    means = table.groupby("method", sort=False)[num].mean().round(3).reset_index()
    means["seed"] = "mean"
    full = pd.concat([table, means], ignore_index=True)
    atomic_write_text(out / "table.csv", full.to_csv(index=False))
    ref = load_reference_csv("pcfes_table1.csv")
    md = ["# PCF-ES reproduction: SPOS-ES vs CF-ES vs PCF-ES on one supernet", "",
          f"- config: {args.config}; supernet {ckpt_note}", f"- seeds {args.seeds}; population {args.population}, "
          f"{args.generations} generations; T={args.threshold}, f={args.monitor_size}, R=0.5, max 8 at once; "
          f"cache {args.cache_mb} MiB; BN recalibration batches {args.bn_batches or 'config default'}",
          f"- data: {_data_line(runs)}", "- search time: measured seconds of subnet evaluation (BN recalibration "
          "+ validation forward), summed; saving_pct vs spos-es of the same seed",
          "- ledger: prefix_s + suffix_s = search_s (stem and frozen blocks / the rest of the network); "
          "bn_recal_s is the part of both spent on BN recalibration, validation is the remainder", "",
          "## Per method and seed (mean rows last)", "", full[cols + ["top1_diff_pt", "n_evals"]].to_markdown(index=False),
          "", "## Where the time goes (seconds, measured)", "",
          table[["method", "seed", "bn_recal_s", "prefix_s", "suffix_s", "peak_cache_mb", "n_frozen",
                 "freeze_events"]].to_markdown(index=False), "", "## Exactness and sampling", "", *extra, "",
          "## Published (PCF-ES paper, Table 1; ImageNet, P100 GPU hours)", "",
          ref.to_markdown(index=False) if "method" in ref else str(ref.iloc[0, 0]), "",
          "![majority share by generation](freeze_heatmap.png)", "", "![cumulative search time](search_time.png)", ""]
    atomic_write_text(out / "table.md", "\n".join(md))
    seed0 = table["seed"].iloc[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, label in zip(axes, (BASELINE, "pcf-es")):
        shares = runs[(label, seed0)]["shares"]
        im = ax.imshow(shares.T, aspect="auto", origin="lower", vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{label}: top-10 majority share (seed {seed0})")
        ax.set_xlabel("generation")
        ax.set_ylabel("block")
        for g, a, b in runs[(label, seed0)]["freeze_events"]:
            ax.plot([g, g], [a - 0.5, b + 0.5], color="red", lw=3)
    fig.colorbar(im, ax=axes, shrink=0.8)
    save_figure(fig, out / "freeze_heatmap.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for label in dict.fromkeys(table["method"]):
        curves = [runs[(label, s)]["cum_time"] for s in dict.fromkeys(table["seed"])]
        n = max(len(c) for c in curves)
        arr = np.vstack([np.pad(c, (0, n - len(c)), mode="edge") for c in curves])
        ax.plot(np.arange(n), arr.mean(0), marker="o", ms=3, label=label)
    ax.set_xlabel("generation")
    ax.set_ylabel("cumulative search time (s, mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, out / "search_time.png")
    print("\n".join(md[:12]))
    print(means.to_markdown(index=False))
    print(f"\nwritten: {out / 'table.md'}")


def demo(out_dir: Path) -> str:
    """Small PCF-ES vs SPOS-ES comparison on the mnist-small supernet (cached or trained now)."""
    import pandas as pd

    p = argparse.ArgumentParser()
    add_arguments(p)  # the command's own defaults, so a new option cannot be missing here
    run(p.parse_args(["--config", "mnist-small", "--seeds", "0", "--cache-mb", "1024", "--generations", "10",
                      "--population", "20", "--device", "cpu", "--out", str(out_dir)]))
    table = pd.read_csv(out_dir / "table.csv")
    mean = table[table["seed"].astype(str) == "mean"][["method", "test_top1", "search_s", "saving_pct", "n_evals"]]
    return "\n".join(["## PCF-ES vs SPOS-ES (mnist-small supernet, 20 x 10 evolution, seed 0)", "",
                      mean.to_markdown(index=False), "", f"Details: [{out_dir.name}/table.md]({out_dir.name}/table.md)", ""])
