"""PCF-ES Table 1 and Figs. 2/7: SPOS-ES vs CF-ES vs PCF-ES (± importance sampling) on one supernet.

Every variant x seed is a :class:`bench.runner.RunSpec` on the ``supernet`` benchmark (options:
config, checkpoint, cache budget, sample rate, BN batches, ``sample_after``), run by ``run_grid``
(resumable: an interrupted command keeps its finished runs). Telemetry (freeze events, frozen blocks,
the generation by which every block froze, shares) is read from the step records, measured seconds
from the steps' ``cost_s`` and the runs' ``seedK.ledger.json``.

Fair comparison (issue 12):

- every variant of a seed makes the same number of evaluations (``population x generations``):
  PCF-ES stops early only when every block is frozen (the paper's rule); when the unfrozen blocks
  have no unseen candidate left it re-asks its best, as SPOS does. The headline is the saving *per
  evaluation* (seconds per new candidate vs SPOS-ES of the same seed); the early stop of our first
  reading (``stop_when_exhausted=True``) is a separate row, ``pcf-es+stop``, with its total saving;
- the choice share is the paper's (over the candidates of a generation) unless ``--share top-k``;
- test top-1 differences come with a 95% interval that resamples seeds and test images
  (``bench.analysis.paired_difference_crossed`` on the per-image correctness that the benchmark's
  ``final`` returns for the found subnet); search-val differences with a paired interval over seeds.

Two checks are runs too: PCF-ES seed 0 with a 4 KiB feature cache (every prefix recomputed) must
give the same trajectory as with the full cache; random search over ``2 x population`` subnets with
and without importance sampling (the first ``population`` are the sampling warm-up) gives the
Spearman of the estimate against full evaluation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from nasrepro.bench.runner import RunSpec

if TYPE_CHECKING:  # pandas loads inside the functions that use it: `nasrepro --help` stays light
    import pandas as pd

NAME = "pcf-es"
DESCRIPTION = "PCF-ES vs CF-ES vs SPOS evolution on one supernet at equal evaluation counts (Table 1)"
BASELINE = "spos-es"
TINY_CACHE_MB = 4 / 1024  # 4 KiB: no prefix batch fits, every one is recomputed
# table.csv columns that are measured (they differ between two runs of the same command)
MEASURED = ("search_s", "s_per_eval", "saving_per_eval_pct", "saving_pct", "gen0_cost_ratio", "wall_s", "cpu_s",
            "bn_recal_s", "prefix_s", "suffix_s", "energy_j")
PUBLISHED = {"cf-es": "CF-ES", "pcf-es": "PCF-ES", "pcf-es+stop": "PCF-ES"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce.cmd_core import add_grid_arguments

    p.add_argument("--config", default="mnist-small",
                   help="mnist-small (default) | cifar10-spos (ImageNet's FLOPs profile) | cifar10-small | imagenet")
    p.add_argument("--checkpoint", default=None, help="trained supernet; default: train one (or reuse the cached one)")
    p.add_argument("--random-init", action="store_true", help="no training: a randomly initialised supernet")
    p.add_argument("--data-root", default=None, help="ImageNet / CIFAR-10 root (default: shared samples or packages)")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--sample-rate", default="0.4", help="importance-sampling rate of the sampling variant (paper 0.4)")
    p.add_argument("--cache-mb", default="4096", help="feature-cache budget in MiB (default 4096)")
    p.add_argument("--threshold", type=float, default=0.7, help="T (paper 0.7 for SPOS)")
    p.add_argument("--monitor-size", type=int, default=3, help="f (paper 3)")
    p.add_argument("--share", default="generation", choices=("generation", "top-k"),
                   help="majority share over the generation's candidates (paper, default) or the top-K")
    p.add_argument("--variants", default="all",
                   help="comma-separated subset of spos-es, cf-es, pcf-es, pcf-es+is<rate>, pcf-es+stop (default all; "
                        "spos-es, the baseline of every saving, is always run); the checks run with the variant they check")
    p.add_argument("--no-checks", action="store_true",
                   help="skip the exactness (4 KiB cache) and sampling checks (they run on the first seed)")
    p.add_argument("--generations", type=int, default=20)
    p.add_argument("--population", type=int, default=50)
    p.add_argument("--bn-batches", type=int, default=None,
                   help="BN-recalibration batches per subnet (default: the config's; imagenet 200)")
    p.add_argument("--cost", default="measured", choices=("measured", "flops"),
                   help="search cost: measured seconds (default) or computed giga multiply-adds (deterministic)")
    p.add_argument("--device", default="auto")
    add_grid_arguments(p, "processes running searches side by side (default: one per core)")
    p.add_argument("--out", default=None, help="output folder (default results/pcf_es/CONFIG)")


# ----------------------------------------------------------------------------- specs


def variants(args: argparse.Namespace, rate: float) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(label, method, method parameters, extra benchmark options) of every variant."""
    half = args.population // 2  # official: 25 mutations + 25 crossovers for a population of 50
    evo = {"population_num": args.population, "max_epochs": args.generations, "mutation_num": half,
           "crossover_num": half, "select_num": max(2, args.population // 5)}
    frz = {**evo, "threshold": args.threshold, "share_over": args.share}
    pcf = {**frz, "monitor_size": args.monitor_size}
    return [
        (BASELINE, "spos-evolution", evo, {}),
        ("cf-es", "cf-es", frz, {}),
        ("pcf-es", "pcf-es", pcf, {}),
        (f"pcf-es+is{rate:g}", "pcf-es", pcf, {"sample_rate": rate, "sample_after": args.population}),
        ("pcf-es+stop", "pcf-es", {**pcf, "stop_when_exhausted": True}, {}),
    ]


def supernet_options(args: argparse.Namespace, ckpt: str | None) -> dict[str, Any]:
    """The supernet benchmark options a supernet reproduction's flags give (shared with rea-freeze)."""
    from nasrepro.bench.supernet.benchmark import resolve_device

    base: dict[str, Any] = {"config": args.config, "device": resolve_device(args.device), "cache_mb": float(args.cache_mb)}
    for key, value in (("checkpoint", ckpt), ("data_root", args.data_root), ("bn_batches", args.bn_batches)):
        if value is not None:
            base[key] = value
    if args.cost != "measured":
        base["cost"] = args.cost
    return base


def build_specs(args: argparse.Namespace, ckpt: str | None, seeds: list[int], rate: float) -> list[RunSpec]:
    base = supernet_options(args, ckpt)

    def spec(tag: str, method: str, seed: int, budget: int, params: dict[str, Any], opts: dict[str, Any]) -> RunSpec:
        return RunSpec("supernet", method, seed, f"{budget}evals", tuple(sorted({**base, **opts}.items())),
                       tuple(sorted(params.items())), tag=tag)

    n = args.population * args.generations
    every = variants(args, rate)
    pcf = every[2][2]
    chosen = chosen_variants(args, [v[0] for v in every])
    vs = [v for v in every if v[0] in chosen]
    out = [spec(label, m, s, n, p, o) for s in seeds for label, m, p, o in vs]
    if getattr(args, "no_checks", False):
        return out
    if "pcf-es" in chosen:
        out.append(spec("check-cache4KiB", "pcf-es", seeds[0], n, pcf, {"cache_mb": TINY_CACHE_MB}))
    if f"pcf-es+is{rate:g}" in chosen:
        warm = {"sample_after": args.population}
        out.append(spec("check-sampling-full", "random", seeds[0], 2 * args.population, {}, {}))
        out.append(spec(f"check-sampling-is{rate:g}", "random", seeds[0], 2 * args.population, {},
                        {"sample_rate": rate, **warm}))
    return out


def chosen_variants(args: argparse.Namespace, labels: list[str]) -> set[str]:
    """``--variants``: the labels to run (the baseline always)."""
    text = str(getattr(args, "variants", "all") or "all").strip()
    if text == "all":
        return set(labels)
    want = {t.strip() for t in text.split(",") if t.strip()}
    bad = sorted(want - set(labels))
    if bad or not want:
        raise ValueError(f"--variants {text!r}: choose from {', '.join(labels)} (comma-separated) or all")
    return want | {BASELINE}


def _check_args(args: argparse.Namespace) -> tuple[list[int], float]:
    from nasrepro.bench.supernet.prefix_cache import parse_cache_mb
    from nasrepro.bench.supernet.sampling import check_sample_rate
    from nasrepro.reproduce.cmd_core import grid_options, parse_seeds

    seeds = parse_seeds(args.seeds)
    rate = check_sample_rate(args.sample_rate)
    parse_cache_mb(args.cache_mb)
    if not 0 < args.threshold <= 1:
        raise ValueError(f"--threshold T must be in (0, 1], got {args.threshold}")
    if args.bn_batches is not None and args.bn_batches < 1:
        raise ValueError(f"--bn-batches must be >= 1, got {args.bn_batches}")
    if args.monitor_size < 0:
        raise ValueError(f"--monitor-size f must be >= 0, got {args.monitor_size}")
    if args.population < 4 or args.generations < 1:
        raise ValueError(f"--population must be >= 4 and --generations >= 1, got {args.population}, {args.generations}")
    grid_options(args, 1)  # --workers checked now
    chosen_variants(args, [v[0] for v in variants(args, rate)])  # --variants checked now
    return seeds, rate


def ensure_checkpoint(config: str, checkpoint: str | None, random_init: bool, data_root: str | None) -> tuple[str | None, str]:
    """The supernet to search: given, cached, or trained now (time stated)."""
    if checkpoint:
        return checkpoint, f"given: {checkpoint}"
    if random_init:
        return None, "randomly initialised (no training)"
    from nasrepro.reproduce.cmd_supernet import ensure_supernet

    return ensure_supernet(config, checkpoint, data_root)


def run(args: argparse.Namespace) -> int:
    from nasrepro.bench.paths import check_out_dir, results_dir
    from nasrepro.bench.runner import run_grid
    from nasrepro.reproduce.cmd_core import grid_options

    seeds, rate = _check_args(args)
    if args.checkpoint:  # a supernet of another config fails here, in one line, before any work
        from nasrepro.bench.supernet.checkpoint import load_checkpoint

        load_checkpoint(args.checkpoint, args.config)
    # a file, "" or an unwritable parent fails here in one line, before the supernet or any search
    out = check_out_dir(args.out if args.out is not None else results_dir() / "pcf_es" / args.config)
    runs_dir = out / "runs" if args.out else results_dir() / "pcf_es" / "runs" / args.config  # git-ignored
    ckpt, ckpt_note = ensure_checkpoint(args.config, args.checkpoint, args.random_init, args.data_root)
    print(f"supernet: {ckpt_note}", flush=True)
    specs = build_specs(args, ckpt, seeds, rate)
    paths = run_grid(specs, runs_dir, **grid_options(args, len(specs)))
    report(paths, out, args.config, ckpt_note, rate, runs_dir)
    return 0


# ----------------------------------------------------------------------------- analysis


def _ledger(path: Path) -> dict[str, Any]:
    from nasrepro.bench.runner import ledger_path

    side = ledger_path(path)
    return json.loads(side.read_text()) if side.exists() else {}


def _correct(run: dict[str, Any]) -> np.ndarray | None:
    bits = run["final"].get("final_test_correct")
    return None if bits is None else np.frombuffer(bits.encode(), dtype=np.uint8) - ord("0")


def _run_row(run: dict[str, Any], table: Any) -> dict[str, Any]:
    """One table row from a trajectory (deterministic fields) and its ledger (measured ones)."""
    steps, final, meta = run["steps"], run["final"], run["meta"]
    seen: set[str] = set()
    new, skipped, total = [], 0.0, 0.0
    for s in steps:
        new.append(s["arch"] not in seen)
        seen.add(s["arch"])
        arch = tuple(int(c) for c in s["arch"].split(","))
        k = int(s["extra"].get("prefix_len", 0))
        total += table.flops(arch)
        skipped += table.prefix_flops(arch, k) if k else 0.0
    cost = np.array([s["cost_s"] for s in steps])
    new_mask = np.array(new)
    timing = _ledger(run["path"])
    led = timing.get("ledger", {})
    last = steps[-1]["extra"]
    frz = "n_frozen" in last
    params = meta.get("params", {})
    opts = meta.get("settings", {}).get("bench_options", {})
    return {
        "method": meta["tag"], "seed": meta["seed"], "T": params.get("threshold", "-"),
        "f": params.get("monitor_size", "-") if meta.get("base_method") == "pcf-es" else "-",
        "sample_rate": float(opts.get("sample_rate", 1.0)), "n_evals": final["n_evals"],
        "n_new": int(new_mask.sum()), "search_val_top1": round(float(final["final_val_acc"]), 3),
        "test_top1": round(float(final["final_test_acc"]), 3), "flops_m": round(float(final["final_flops_m"]), 3),
        "search_s": round(float(cost.sum()), 3), "s_per_eval": round(float(cost[new_mask].mean()), 5),
        "gen0_s_per_eval": float(np.mean([s["cost_s"] for s in steps if s["extra"].get("generation") == 0])),
        "wall_s": round(float(timing.get("wall_s", np.nan)), 1), "cpu_s": round(float(timing.get("cpu_s", np.nan)), 1),
        "flops_skipped_pct": round(100 * skipped / total, 2),
        "n_frozen": last["n_frozen"] if frz else "-",
        "all_frozen_generation": (last["all_frozen_generation"] if last.get("all_frozen_generation") is not None
                                  else f"never ({last['n_frozen']}/{len(steps[0]['arch'].split(','))})")
        if frz else "-",
        "freeze_events": ";".join(f"g{g}:b{a}-{b}" for g, a, b in last.get("freeze_events", [])) or "-",
        "bn_recal_s": round(float(led.get("bn_recal_s", np.nan)), 2), "prefix_s": round(float(led.get("prefix_s", np.nan)), 2),
        "suffix_s": round(float(led.get("suffix_s", np.nan)), 2), "energy_j": led.get("energy_j", "not measured"),
        "peak_cache_mb": round(float(led.get("cache_peak_bytes", 0)) / 2**20, 2),
    }


def per_generation(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Per variant and generation, mean over seeds: new evaluations, seconds per evaluation, frozen blocks."""
    import pandas as pd

    rows = []
    for r in runs:
        seen: set[str] = set()
        for s in r["steps"]:
            if s["arch"] in seen:  # re-asks after the unfrozen blocks ran out: not a generation's work
                continue
            seen.add(s["arch"])
            rows.append({"method": r["meta"]["tag"], "seed": r["meta"]["seed"], "generation": s["extra"]["generation"],
                         "cost_s": s["cost_s"], "n_frozen": s["extra"].get("n_frozen", 0)})
    df = pd.DataFrame(rows)
    g = df.groupby(["method", "seed", "generation"], sort=False).agg(evals=("cost_s", "size"), cost_s=("cost_s", "sum"),
                                                                      n_frozen=("n_frozen", "max")).reset_index()
    g["s_per_eval"] = g["cost_s"] / g["evals"]
    return g.groupby(["method", "generation"], sort=False)[["evals", "s_per_eval", "n_frozen"]].mean().reset_index()


def _shares(run: dict[str, Any], share: str, k: int) -> np.ndarray:
    """Majority share per block after each generation: logged by PCF-ES, recomputed for SPOS-ES."""
    from nasrepro.methods.pcf_es import majority

    steps = [s for s in run["steps"]]
    n = len(steps[0]["arch"].split(","))
    gens = [s["extra"]["generation"] for s in steps]
    rows, scored = [], []
    for i, s in enumerate(steps):
        scored.append((s["score"], tuple(int(c) for c in s["arch"].split(","))))
        if i + 1 < len(steps) and gens[i + 1] == gens[i]:
            continue
        if "shares" in s["extra"]:
            nxt = steps[i + 1]["extra"]["shares"] if i + 1 < len(steps) else s["extra"]["shares"]
            rows.append(nxt if len(nxt) == n else [np.nan] * n)
            continue
        gen = [a for (_, a), g in zip(scored, gens) if g == gens[i]]
        over = gen if share == "generation" else [a for _, a in sorted(scored, key=lambda t: -t[0])[:k]]
        rows.append(majority(over, n, (4,) * n)[1])
    return np.asarray(rows, dtype=float)


def _published(config: str) -> tuple[dict[str, tuple[float, float]], str]:
    """{variant: (time saving %, top-1 difference pt)} of the paper's SPOS rows, and a note."""
    from nasrepro.bench.reference import load_reference_csv

    ref = load_reference_csv("pcfes_table1.csv")
    if "method" not in ref:
        return {}, str(ref.iloc[0, 0])
    spos = ref[ref["supernet"] == "SPOS"].set_index("method")
    base = spos.loc["Evolutionary"]
    out = {v: (100 * (1 - spos.loc[m, "gpu_hour"] / base["gpu_hour"]), float(spos.loc[m, "top1"] - base["top1"]))
           for v, m in PUBLISHED.items()}
    return out, (f"PCF-ES paper, Table 1, SPOS supernet on ImageNet (P100 GPU hours; evolutionary "
                 f"{base['gpu_hour']:g} h at {base['top1']:g}% top-1)")


def report(paths: list[Path], out: Path, config: str, ckpt_note: str, rate: float, runs_dir: Path) -> None:
    import pandas as pd
    from nasrepro.bench.analysis import (
        load_runs,
        paired_difference,
        paired_difference_crossed,
        run_params,
        verdict,
        write_figure,
        write_table,
    )
    from nasrepro.bench.metrics import spearman
    from nasrepro.bench.provenance import provenance
    from nasrepro.bench.supernet.flops import flops_table

    runs = load_runs(paths)
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_tag.setdefault(r["meta"]["tag"], []).append(r)
    checks = {t: rs for t, rs in by_tag.items() if t.startswith("check-")}
    search = [r for r in runs if not r["meta"]["tag"].startswith("check-")]
    table = flops_table(config)
    df = pd.DataFrame([_run_row(r, table) for r in search])
    base = df[df["method"] == BASELINE].set_index("seed")
    df["saving_per_eval_pct"] = [round(100 * (1 - s / base.loc[sd, "s_per_eval"]), 2)
                                 for s, sd in zip(df["s_per_eval"], df["seed"])]
    df["saving_pct"] = [round(100 * (1 - s / base.loc[sd, "search_s"]), 2) for s, sd in zip(df["search_s"], df["seed"])]
    # generation 0 is the same work in every variant of a seed (the same random subnets, nothing frozen, full
    # evaluation): a ratio far from 1 means the machine's speed changed between the runs (a shared machine)
    df["gen0_cost_ratio"] = [round(g0 / base.loc[sd, "gen0_s_per_eval"], 3) for g0, sd in zip(df["gen0_s_per_eval"], df["seed"])]
    df = df.drop(columns="gen0_s_per_eval")
    correct = {(r["meta"]["tag"], r["meta"]["seed"]): _correct(r) for r in search}
    seeds = sorted(base.index)
    cols: dict[str, list[float]] = {k: [] for k in ("top1_diff_pt", "top1_diff_ci_low", "top1_diff_ci_high")}
    for tag, sd in zip(df["method"], df["seed"]):
        a, b = correct[(tag, sd)], correct[(BASELINE, sd)]
        d = paired_difference_crossed(a[None], b[None], scale=100) if a is not None and b is not None else \
            {"diff": np.nan, "ci_low": np.nan, "ci_high": np.nan}
        cols["top1_diff_pt"].append(round(d["diff"], 3))
        cols["top1_diff_ci_low"].append(round(d["ci_low"], 3))
        cols["top1_diff_ci_high"].append(round(d["ci_high"], 3))
    df = df.assign(**cols | {"val_diff_pt": [round(v - base.loc[sd, "search_val_top1"], 3)
                                            for v, sd in zip(df["search_val_top1"], df["seed"])]})
    # mean rows: intervals over seeds (and test images for top-1)
    num = ["n_evals", "n_new", "search_val_top1", "test_top1", "flops_m", "search_s", "s_per_eval", "wall_s", "cpu_s",
           "flops_skipped_pct", "saving_per_eval_pct", "saving_pct", "gen0_cost_ratio", "bn_recal_s", "prefix_s",
           "suffix_s"]
    means, summary = [], {}
    for tag, g in df.groupby("method", sort=False):
        row = {"method": tag, "seed": "mean", **g[num].mean().round(3).to_dict(),
               **{c: g[c].iloc[0] for c in ("T", "f", "sample_rate")}, "all_frozen_generation": "", "freeze_events": "",
               "n_frozen": round(float(pd.to_numeric(g["n_frozen"], errors="coerce").mean()), 2)}
        sds = [s for s in seeds if s in set(g["seed"])]
        if all(correct.get((tag, s)) is not None and correct.get((BASELINE, s)) is not None for s in sds):
            d = paired_difference_crossed(np.stack([correct[(tag, s)] for s in sds]),
                                          np.stack([correct[(BASELINE, s)] for s in sds]), scale=100)
        else:
            d = {"diff": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0.0}
        v = paired_difference(g.set_index("seed").loc[sds, "search_val_top1"], base.loc[sds, "search_val_top1"])
        sv = paired_difference(g.set_index("seed").loc[sds, "saving_per_eval_pct"], np.zeros(len(sds)))
        st = paired_difference(g.set_index("seed").loc[sds, "saving_pct"], np.zeros(len(sds)))
        row.update(top1_diff_pt=round(d["diff"], 3), top1_diff_ci_low=round(d["ci_low"], 3),
                   top1_diff_ci_high=round(d["ci_high"], 3), val_diff_pt=round(v["diff"], 3),
                   val_diff_ci_low=round(v["ci_low"], 3), val_diff_ci_high=round(v["ci_high"], 3))
        means.append(row)
        summary[tag] = {"top1": d, "val": v, "saving_eval": sv, "saving": st, "n_evals": g["n_evals"].mean(),
                        "per_seed": g.set_index("seed").loc[sds, "saving_per_eval_pct"].to_numpy(),
                        "n_new": g["n_new"].mean(), "skipped": g["flops_skipped_pct"].mean()}
    full = pd.concat([df, pd.DataFrame(means)], ignore_index=True)
    order = ["method", "seed", "T", "f", "sample_rate", "n_evals", "n_new", "search_val_top1", "test_top1", "flops_m",
             "search_s", "s_per_eval", "saving_per_eval_pct", "saving_pct", "gen0_cost_ratio", "wall_s", "cpu_s",
             "flops_skipped_pct",
             "top1_diff_pt", "top1_diff_ci_low", "top1_diff_ci_high", "val_diff_pt", "val_diff_ci_low",
             "val_diff_ci_high", "n_frozen", "all_frozen_generation", "freeze_events", "bn_recal_s", "prefix_s",
             "suffix_s", "peak_cache_mb", "energy_j"]
    full = full[order]

    # -- checks ------------------------------------------------------------------------------
    notes_checks = []
    tiny = checks.get("check-cache4KiB", [])
    ref = [r for r in by_tag.get("pcf-es", []) if tiny and r["meta"]["seed"] == tiny[0]["meta"]["seed"]]
    if tiny and ref:
        same = [(s["arch"], s["score"]) for s in tiny[0]["steps"]] == [(s["arch"], s["score"]) for s in ref[0]["steps"]]
        led = _ledger(tiny[0]["path"]).get("ledger", {})
        notes_checks.append(
            f"Exactness: PCF-ES seed {tiny[0]['meta']['seed']} with a 4 KiB feature cache "
            f"({led.get('cache_recomputed', '?')} of {led.get('cache_misses', '?')} prefix batches recomputed) gives "
            f"the same trajectory (architectures and scores) as with the full cache: **{same}** "
            f"({len(ref[0]['steps'])} evaluations).")
    full_s = checks.get("check-sampling-full", [])
    is_s = checks.get(f"check-sampling-is{rate:g}", [])
    if full_s and is_s:
        warm = int(is_s[0]["meta"]["settings"]["bench_options"].get("sample_after", 0))
        a = [s["score"] for s in full_s[0]["steps"][warm:]]
        b = [s["score"] for s in is_s[0]["steps"][warm:]]
        archs_same = [s["arch"] for s in full_s[0]["steps"]] == [s["arch"] for s in is_s[0]["steps"]]
        kept = _ledger(is_s[0]["path"]).get("ledger", {}).get("sampled_images", "?")
        notes_checks.append(
            f"Importance sampling r={rate:g}: {kept} validation images kept (weights from {warm} warm-up subnets); "
            f"Spearman of the next {len(a)} random subnets' top-1, r={rate:g} vs full: **{spearman(a, b):.3f}**, "
            f"mean |difference| {np.mean(np.abs(np.subtract(a, b))):.2f} pt (same subnets: {archs_same}).")

    # -- text from the runs ---------------------------------------------------------------------------
    pp = {**run_params(search, BASELINE), **run_params(search, "cf-es"), **run_params(search, "pcf-es")}
    meta = search[0]["meta"]
    opts = meta["settings"]["bench_options"]
    pub, pub_note = _published(config)
    head = ["| variant | evaluations (new) | saving per evaluation, % [95% CI] | total saving, % | FLOPs skipped, % "
            "| test top-1 vs SPOS-ES, pt [95% CI seeds x images] | search-val vs SPOS-ES, pt | published saving, % "
            "| published top-1, pt |", "|---|---|---|---|---|---|---|---|---|"]
    for tag, s in summary.items():
        if tag == BASELINE:
            continue
        p = pub.get(tag)
        head.append(f"| {tag} | {s['n_evals']:.0f} ({s['n_new']:.0f}) | {verdict(s['saving_eval'], '%', 1)} "
                    f"| {s['saving']['diff']:.1f} | {s['skipped']:.1f} | {verdict(s['top1'])} | {verdict(s['val'])} "
                    f"| {f'{p[0]:.1f}' if p else '-'} | {f'{p[1]:+.1f}' if p else '-'} |")
    claim = _claim_line(summary, pub)
    gen = per_generation(search)
    heavy = (f"stem + block 0 = {100 * table.prefix_flops((0,) * len(table.block_flops), 1) / table.flops((0,) * len(table.block_flops)):.0f}% "
             f"of an all-choice-0 subnet's FLOPs")
    cost_kind = meta.get("cost_model", "?")
    notes = [
        f"config {config} ({heavy}; `results/supernet_flops.md`); supernet {ckpt_note}",
        f"data: {meta.get('data_source', meta.get('dataset', '?'))}; {meta.get('splits', '')}".rstrip("; "),
        f"evolution (from the runs): population {pp.get('population_num')}, {pp.get('max_epochs')} generations, "
        f"{pp.get('select_num')} parents, {pp.get('mutation_num')} mutations (p={pp.get('m_prob')}), "
        f"{pp.get('crossover_num')} crossovers; T={pp.get('threshold')}, f={pp.get('monitor_size')}, "
        f"R={pp.get('block_ratio')}, at most {pp.get('max_at_once')} blocks at once; choice share over "
        f"**{'the candidates of each generation (the paper)' if pp.get('share_over') == 'generation' else 'the top-K so far'}**",
        f"benchmark: cache {opts.get('cache_mb')} MiB, BN recalibration {meta.get('bn_recal')}, device {meta.get('device')}; "
        f"cost: {cost_kind}",
        "equal evaluation counts: every variant makes population x generations evaluations unless every block "
        "froze (the paper's stop); when the unfrozen blocks ran out of unseen candidates PCF-ES re-asks its best "
        "(n_new counts the new candidates); `s_per_eval` = seconds per new candidate, `saving_per_eval_pct` vs "
        "spos-es of the same seed is the headline; `pcf-es+stop` stops when the candidates ran out "
        "(stop_when_exhausted=True, our first reading, not the paper's rule): its `saving_pct` is what we reported before",
        "`flops_skipped_pct`: multiply-adds of the stem and frozen blocks served from the cache / all multiply-adds "
        "of the evaluated subnets; `top1_diff_ci_*`: 95% bootstrap over test images (per seed) and over seeds x "
        "test images (mean rows), from the per-image correctness of the found subnets (the benchmark's final "
        f"evaluation); `val_diff_*`: paired over seeds (for pcf-es+is{rate:g} the search-val top-1 is the sampled estimate)",
        "`gen0_cost_ratio`: cost per evaluation of generation 0 (the same subnets, fully evaluated, in every "
        "variant of a seed) vs spos-es: far from 1, the machine's speed changed between the runs and the measured "
        "savings are not comparable (`flops_skipped_pct` is machine-independent)",
        f"wall_s, cpu_s: measured per run (ledger); total {df['wall_s'].sum():.0f} s wall, {df['cpu_s'].sum():.0f} s CPU",
        "", "## Headline (mean over seeds)", "", *head, "", f"Published: {pub_note}.", "", claim, "",
        "## Checks", "", *([f"- {c}" for c in notes_checks] or ["- none run (`--no-checks`, or the variants they check were "
                                                            "not chosen)"]), "",
        "Per generation: `generations.md`. ![majority share by generation](freeze_heatmap.png) "
        "![search time](search_time.png)",
    ]
    n_seeds = len(seeds)
    prov = provenance(sources={"checkpoint": opts.get("checkpoint", "random init"), "runs": str(runs_dir)},
                      extra={"seeds": ",".join(map(str, seeds))})
    out.mkdir(parents=True, exist_ok=True)
    title = (f"PCF-ES reproduction on {config}: SPOS-ES vs CF-ES vs PCF-ES at equal evaluation counts "
             f"({n_seeds} seed{'s' if n_seeds > 1 else ''}, share over {pp.get('share_over')})")
    write_table(full, out / "table", prov, title, notes, formats=("csv",))
    shown = ["method", "seed", "n_evals", "n_new", "test_top1", "s_per_eval", "saving_per_eval_pct", "saving_pct",
             "gen0_cost_ratio",
             "wall_s", "cpu_s", "flops_skipped_pct", "top1_diff_pt", "top1_diff_ci_low", "top1_diff_ci_high",
             "val_diff_pt", "n_frozen", "all_frozen_generation", "freeze_events"]
    write_table(full[shown], out / "table", prov, title, [*notes[:-1], "All columns: `table.csv`. " + notes[-1]],
                formats=("md", "tex"), floatfmt=".4g")
    piv = gen.pivot(index="generation", columns="method", values=["s_per_eval", "n_frozen", "evals"])
    piv.columns = [f"{m} {v}" for v, m in piv.columns]
    write_table(piv.reset_index().round(4), out / "generations", prov,
                f"Per generation on {config}: new evaluations, seconds per evaluation, frozen blocks (mean over seeds)",
                ["re-asks after the candidates ran out are left out"], floatfmt=".4g")
    _figures(search, gen, out, prov, pp.get("share_over", "generation"), int(pp.get("select_num", 10)), write_figure)
    print(f"written: {out / 'table.md'}")
    print("\n".join(head + ["", claim]))


def _claim_line(summary: dict[str, dict[str, Any]], pub: dict[str, tuple[float, float]]) -> str:
    """Where the published claim does (not) hold at equal evaluation counts, from the numbers."""
    if "pcf-es" not in summary:
        return ""
    s, c = summary["pcf-es"]["saving_eval"], summary.get("cf-es", {}).get("saving_eval")
    parts = []
    if "pcf-es" in pub:
        p_save, p_top1 = pub["pcf-es"]
        inside = bool(s["ci_low"] <= p_save <= s["ci_high"]) if np.isfinite(s["ci_low"]) else None
        parts.append(f"the published PCF-ES saving ({p_save:.1f}% at {p_top1:+.1f} pt) is "
                     + {True: "inside", False: "**outside**", None: "not comparable to"}[inside]
                     + f" our 95% interval of the saving per evaluation, {s['diff']:.1f}% [{s['ci_low']:.1f}, "
                     f"{s['ci_high']:.1f}]")
    if c is not None:
        from nasrepro.bench.analysis import paired_difference, verdict

        d = paired_difference(summary["pcf-es"]["per_seed"], summary["cf-es"]["per_seed"])
        parts.append(f"progressive freezing over CF-ES (PCF-ES {s['diff']:.1f}% vs CF-ES {c['diff']:.1f}% per "
                     f"evaluation): {verdict(d, 'points of saving', 1)}")
    t = summary["pcf-es"]["top1"]
    if np.isfinite(t["ci_low"]) and "pcf-es" in pub:
        inside = bool(t["ci_low"] <= pub["pcf-es"][1] <= t["ci_high"])
        parts.append(f"test top-1 vs SPOS-ES {t['diff']:+.2f} pt [{t['ci_low']:+.2f}, {t['ci_high']:+.2f}]: the "
                     f"published {pub['pcf-es'][1]:+.1f} pt is {'inside' if inside else '**outside**'} it")
    return "**Published claim vs fair comparison:** " + "; ".join(parts) + "."


def _figures(search: list[dict[str, Any]], gen: pd.DataFrame, out: Path, prov: dict[str, Any], share: str, k: int,
             write_figure: Any) -> None:
    from nasrepro.bench.plots import pyplot

    plt = pyplot()
    seed0 = min(r["meta"]["seed"] for r in search)
    pick = {r["meta"]["tag"]: r for r in search if r["meta"]["seed"] == seed0}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    im = None
    for ax, tag in zip(axes, (BASELINE, "pcf-es")):
        if tag not in pick:
            continue
        shares = _shares(pick[tag], share, k)
        im = ax.imshow(shares.T, aspect="auto", origin="lower", vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{tag}: majority share over the {share} (seed {seed0})")
        ax.set_xlabel("generation")
        ax.set_ylabel("block")
        for g, a, b in pick[tag]["steps"][-1]["extra"].get("freeze_events", []):
            ax.plot([g, g], [a - 0.5, b + 0.5], color="red", lw=3)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8)
    write_figure(fig, out / "freeze_heatmap.png", prov)
    plt.close(fig)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    tags = list(dict.fromkeys(r["meta"]["tag"] for r in search))
    for tag in tags:
        curves = [np.cumsum([s["cost_s"] for s in r["steps"]]) for r in search if r["meta"]["tag"] == tag]
        n = max(len(c) for c in curves)
        arr = np.vstack([np.pad(c, (0, n - len(c)), mode="edge") for c in curves])
        ax1.plot(np.arange(1, n + 1), arr.mean(0), label=tag)
        g = gen[gen["method"] == tag]
        ax2.plot(g["generation"], g["s_per_eval"], marker="o", ms=3, label=tag)
    ax1.set_xlabel("evaluations")
    ax1.set_ylabel("cumulative search cost (mean over seeds)")
    ax2.set_xlabel("generation")
    ax2.set_ylabel("cost per new evaluation (mean over seeds)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    write_figure(fig, out / "search_time.png", prov)
    plt.close(fig)


def demo(out_dir: Path) -> str:
    """Small PCF-ES vs SPOS-ES comparison on the mnist-small supernet (cached or trained now)."""
    import pandas as pd

    p = argparse.ArgumentParser()
    add_arguments(p)  # the command's own defaults, so a new option cannot be missing here
    run(p.parse_args(["--config", "mnist-small", "--seeds", "0", "--cache-mb", "1024", "--generations", "10",
                      "--population", "20", "--device", "cpu", "--workers", "1", "--out", str(out_dir)]))
    table = pd.read_csv(out_dir / "table.csv")
    mean = table[table["seed"].astype(str) == "mean"][["method", "test_top1", "s_per_eval", "saving_per_eval_pct",
                                                        "n_evals"]]
    return "\n".join(["## PCF-ES vs SPOS-ES (mnist-small supernet, 20 x 10 evolution, seed 0)", "",
                      mean.to_markdown(index=False), "", f"Details: [{out_dir.name}/table.md]({out_dir.name}/table.md)", ""])
