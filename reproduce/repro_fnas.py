"""FNAS ablation (Liu et al., arXiv 2105.11694) on the NB201 tables, plus the live weight-pool comparison.

Tabular mode (specs + analysis, four dependent grids of the one runner):

1. *Tuning* on held-out seeds (``--tune-seeds``, never part of the reported ``--seeds``), the same budget
   for each method: :data:`TUNING` configurations x held-out seeds x datasets. REINFORCE's and PPO's
   learning rates first, then the critic's ``uncertainty_k`` with the chosen PPO learning rate. The
   setting with the lowest median of trained architectures to the top 0.1% (pooled over datasets and
   held-out seeds) is chosen; ``tuning.csv`` holds every setting.
2. *Grid*: the variants of :data:`VARIANTS` (REINFORCE at its NB201 default and tuned, tuned PPO, +critic,
   diagnostics) on ``--seeds`` x datasets, ``--cap`` trained architectures per run.
3. *Held-out transfer sources*: a copy of each transfer source run without the target's top-1% cells.
4. *Transfer grid*: the variants that pre-train the critic on an earlier run (``transfer_from``).

Metric: trained architectures until the first one in the top 0.1% (and top 1%) of the dataset by
200-epoch test accuracy; a run that never gets there is censored ("> cap"). Transfer is counted with its
source: ``source_evals`` (points given to the critic), ``median_total_top01`` (the source run's trained
architectures + the target's) and the Spearman between source and target rewards of the source's cells.

Transfer sources: the PPO+critic run of CIFAR-10 for CIFAR-100, of CIFAR-100 for ImageNet16-120 and, for
CIFAR-10 itself, the PPO+critic run of CIFAR-10 with the next seed of the grid (the same task).

Live mode: PPO with and without the lifelong block-weight pool (``weight_pool`` option of nb201-live,
similarity matching, strict per-batch fairness) on ``--live-seeds``, then a probe per seed: the pool
arm's final architecture trained once from the final pool (read-only) and once from scratch, same
seed, the validation accuracy after each epoch. The target accuracy is a command-line value.
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

NAME = "fnas"
DESCRIPTION = "FNAS ablation: REINFORCE / PPO / +critic / +transfer / +replay on NB201 tables; weight pool live"

DATASETS = ("cifar10", "cifar100", "imagenet16-120")
CHAIN = {"cifar100": "cifar10", "imagenet16-120": "cifar100"}  # target -> transfer source dataset
# tag -> (method or registered variant, which tuned settings it takes, transfer source kind)
VARIANTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "reinforce": ("reinforce", (), ""),  # the NB201 default learning rate
    "reinforce-tuned": ("reinforce", ("reinforce",), ""),
    "ppo": ("ppo", ("ppo",), ""),
    "ppo+critic": ("ppo+critic", ("ppo", "ppo+critic"), ""),
    "ppo+critic+transfer": ("ppo+critic+transfer", ("ppo", "ppo+critic"), "full"),
    "ppo+critic+transfer-heldout": ("ppo+critic+transfer-heldout", ("ppo", "ppo+critic"), "heldout"),
    "fnas": ("fnas", ("ppo", "ppo+critic"), "full"),
    # diagnostics, not in the paper
    "fnas-no-reuse": ("fnas-no-reuse", ("ppo", "ppo+critic"), "full"),
    "ppo+replay": ("ppo+replay", ("ppo",), ""),
}
SOURCE_VARIANT = "ppo+critic"
# tuned method -> (method or variant, parameter, settings tried); the same number of settings for each
TUNING: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "reinforce": ("reinforce", "learning_rate", (0.01, 0.03, 0.1, 0.3)),
    "ppo": ("ppo", "lr", (0.02, 0.05, 0.1, 0.2)),
    "ppo+critic": ("ppo+critic", "uncertainty_k", (0.0, 0.5, 1.0, 2.0)),
}
LIVE_ARMS = ("ppo", "ppo+pool")
# --live-target default, fixed before the reported runs: a pilot on cifar10/tiny, seed 99 (not reported),
# 12 rollouts per arm, reached best validation accuracies of 23.8% (PPO) and 26.2% (PPO + pool)
LIVE_TARGET = 24.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce.cmd_core import add_grid_arguments

    p.add_argument("--mode", choices=("tabular", "live", "both"), default="tabular")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), help="NB201 datasets (tabular mode)")
    p.add_argument("--seeds", default="0-19", help="reported seeds (tabular), e.g. 0-19")
    p.add_argument("--tune-seeds", default="100-109",
                   help="held-out seeds of the tuning, disjoint from --seeds (default 100-109)")
    p.add_argument("--cap", type=int, default=1500, help="trained architectures per run (tabular)")
    p.add_argument("--table", default=None, help="NB201 table (default $NASREPRO_DATA/nb201/nb201_accuracy.csv)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), help="subset of: " + ", ".join(VARIANTS))
    p.add_argument("--out", default=None, help="output folder (default results/fnas)")
    p.add_argument("--live-seeds", default="0-4", help="seeds of the live comparison (default 0-4)")
    p.add_argument("--live-dataset", default="cifar10", help="nb201-live dataset: cifar10 (shared 10k) or mnist")
    p.add_argument("--live-config", default="tiny", help="nb201-live config (tiny, small, 10k, medium, nb201)")
    p.add_argument("--live-rollouts", type=int, default=12, help="trained architectures per live search")
    p.add_argument("--live-batch", type=int, default=4, help="PPO batch size of the live searches")
    p.add_argument("--live-target", type=float, default=LIVE_TARGET,
                   help=f"target validation accuracy in %%, fixed before the runs (default {LIVE_TARGET:g}: "
                   "from a pilot on cifar10/tiny, seed 99, not a reported seed)")
    p.add_argument("--live-options", default="{}", help="JSON overrides of the nb201-live config, e.g. '{\"epochs\": 2}'")
    p.add_argument("--pool-rule", choices=("latest", "average"), default="latest")
    p.add_argument("--pool-match", choices=("similar", "exact"), default="similar",
                   help="weight pool: inherit from the most similar stored block (default) or exact keys only")
    p.add_argument("--pool-max-mb", type=float, default=256.0)
    add_grid_arguments(p, workers_help="processes (default 1)")


# ------------------------------------------------------------------------------ tabular specs


def _table_path(arg: str | None) -> str:
    if arg:
        if not Path(arg).exists():
            raise ValueError(f"--table {arg} not found; pass an NB201 table with all three datasets")
        return str(arg)
    from nasrepro.bench.paths import data_dir

    root = data_dir(required=True)
    assert root is not None
    path = root / "nb201" / "nb201_accuracy.csv"
    if not path.exists():
        raise ValueError(f"{path} not found; pass --table with an NB201 table that has all three datasets")
    return str(path)


def _spec(tag: str, method: str, ds: str, seed: int, cap: int, table: str, params: dict[str, Any],
          group: str | None = None) -> RunSpec:
    return RunSpec(bench="nb201", method=method, seed=seed, budget=f"{cap}evals",
                   bench_options=(("dataset", ds), ("table", table)), params=tuple(sorted(params.items())),
                   tag=tag, group=ds if group is None else group)


def tuning_specs(methods: list[str], datasets: list[str], seeds: list[int], cap: int, table: str,
                 fixed: dict[str, Any] | None = None) -> list[RunSpec]:
    """One spec per (tuned method, setting, dataset, held-out seed); ``fixed``: chosen settings of
    earlier phases (the critic is tuned at the chosen PPO learning rate)."""
    out = []
    for name in methods:
        method, param, values = TUNING[name]
        for v in values:
            params = {**(fixed or {}), param: v}
            out += [_spec(tuning_tag(name, param, v), method, ds, s, cap, table, params, f"tuning/{ds}")
                    for ds in datasets for s in seeds]
    return out


def tuning_tag(name: str, param: str, value: float) -> str:
    return f"{name}_{param}={value:g}"


def variant_params(tag: str, chosen: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The explicit parameters of a grid variant: the tuned settings it takes."""
    params: dict[str, Any] = {}
    for tuned in VARIANTS[tag][1]:
        params.update(chosen.get(tuned, {}))
    return params


def transfer_source(ds: str, seed: int, seeds: list[int]) -> tuple[str, int]:
    """(dataset, seed) of the PPO+critic run that pre-trains the critic of (ds, seed)."""
    if ds in CHAIN:
        return CHAIN[ds], seed
    i = seeds.index(seed) if seed in seeds else -1
    other = seeds[(i + 1) % len(seeds)] if len(seeds) > 1 and i >= 0 else seed + 1
    return ds, other


def heldout_source_path(runs: Path, ds: str, src: tuple[str, int]) -> Path:
    return runs / "sources" / ds / f"{src[0]}-seed{src[1]}-without-top1.jsonl"


def grid(datasets: list[str], seeds: list[int], variants: list[str], cap: int, table: str, runs: Path,
         chosen: dict[str, dict[str, Any]]) -> tuple[list[RunSpec], list[RunSpec]]:
    """(phase 1, phase 2) specs: phase 2 (transfer) reads phase-1 PPO+critic runs, or their held-out copies."""
    phase1: list[RunSpec] = []
    phase2: list[RunSpec] = []
    sources: set[tuple[str, int]] = set()
    for ds in datasets:
        for s in seeds:
            for v in variants:
                method, _, kind = VARIANTS[v]
                params = variant_params(v, chosen)
                if kind:
                    src = transfer_source(ds, s, seeds)
                    sources.add(src)
                    path = (source_spec(src, cap, table, chosen).path(runs) if kind == "full"
                            else heldout_source_path(runs, ds, src))
                    phase2.append(_spec(v, method, ds, s, cap, table, {**params, "transfer_from": str(path)}))
                else:
                    phase1.append(_spec(v, method, ds, s, cap, table, params))
    have = set(phase1)
    phase1 += [sp for src in sorted(sources) if (sp := source_spec(src, cap, table, chosen)) not in have]
    return phase1, phase2


def source_spec(src: tuple[str, int], cap: int, table: str, chosen: dict[str, dict[str, Any]]) -> RunSpec:
    method = VARIANTS[SOURCE_VARIANT][0]
    return _spec(SOURCE_VARIANT, method, src[0], src[1], cap, table, variant_params(SOURCE_VARIANT, chosen))


# ------------------------------------------------------------------------------ tabular analysis


class Truth:
    """One dataset's ground truth: 200-epoch test accuracy and search reward per architecture string."""

    def __init__(self, table: str, ds: str) -> None:
        from nasrepro.bench.analysis import top_threshold
        from nasrepro.bench.nb201.space import index_to_arch
        from nasrepro.bench.registry import make_benchmark

        bench = make_benchmark("nb201", dataset=ds, table=table)
        test = bench.table.column(bench.dataset, "test_200")
        reward = bench.table.column(bench.dataset, bench.signal_metric)
        strings = [bench.space.to_str(index_to_arch(i)) for i in range(len(test))]
        ok = np.isfinite(test)
        self.test = {a: float(t) for a, t, f in zip(strings, test, ok) if f}
        self.reward = {a: float(r) for a, r in zip(strings, reward) if np.isfinite(r)}
        self.thr01 = top_threshold(test[ok], 0.001)
        self.thr1 = top_threshold(test[ok], 0.01)
        self.top1 = {a for a, t in self.test.items() if t >= self.thr1}

    def hits(self, run: dict[str, Any], cap: int) -> tuple[float, float]:
        """Trained architectures to the first top-0.1% and top-1% one (inf: never within ``cap``)."""
        from nasrepro.bench.analysis import first_hit

        tests = [self.test[s["arch"]] for s in run["steps"][:cap]]
        return first_hit(tests, self.thr01), first_hit(tests, self.thr1)


def run_hits(specs: list[RunSpec], runs: Path, truths: dict[str, Truth], cap: int) -> pd.DataFrame:
    """One row per finished run: first hits, source costs and critic telemetry (from ``extra``)."""
    import pandas as pd
    from nasrepro.bench.analysis import load_runs
    from nasrepro.bench.io import read_jsonl
    from scipy.stats import spearmanr

    rows = []
    done = [s for s in specs if s.path(runs).exists()]
    for spec, run in zip(done, load_runs(s.path(runs) for s in done)):
        ds = dict(spec.bench_options)["dataset"]
        truth = truths[ds]
        h01, h1 = truth.hits(run, cap)
        steps = run["steps"]
        last = steps[-1].get("extra", {}) if steps else {}
        at = steps[int(h01) - 1 if np.isfinite(h01) else -1].get("extra", {})
        row: dict[str, Any] = {
            "variant": spec.label, "dataset": ds, "seed": spec.seed, "samples_top01": h01, "samples_top1": h1,
            "final_test_acc": run["final"].get("final_test_acc"),
            "spared_critic": last.get("spared_critic", 0), "spared_known": last.get("spared_known", 0),
            "sampled": last.get("sampled", len(steps)), "sampled_to_hit": at.get("sampled", np.nan),
            "spared_critic_to_hit": at.get("spared_critic", np.nan),
            "spared_known_to_hit": at.get("spared_known", np.nan),
            "source_evals": 0, "source_cost": 0, "source_target_spearman": np.nan,
        }
        src = dict(spec.params).get("transfer_from")
        if src:
            src_rows = [r for r in read_jsonl(src) if r.get("type") == "step"]
            origin = json.loads(Path(src).read_text().splitlines()[0]).get("filtered_from")
            # the source run trained every one of its steps, whatever part of it the critic is given
            n_run = len(src_rows) if not origin else int(origin["n_steps"])
            a = [r["score"] for r in src_rows]
            b = [truth.reward.get(r["arch"], np.nan) for r in src_rows]
            row.update(source_evals=len(src_rows), source_cost=n_run,
                       source_target_spearman=float(spearmanr(a, b).statistic) if len(a) > 2 else np.nan)
        rows.append(row)
        for st in steps:
            e = st.get("extra", {})
            if "pred_mean" in e:
                row.setdefault("_calib", []).append((e["pred_mean"], e["pred_std"], st["score"]))
    return pd.DataFrame(rows)


def choose(hits: pd.DataFrame, name: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """The setting of tuned method ``name`` with the lowest pooled median to the top 0.1% (ties: the
    top-1% median, then the order of :data:`TUNING`), and the tuning table rows."""
    import pandas as pd
    from nasrepro.bench.analysis import censored_quantiles

    _, param, values = TUNING[name]
    rows, scores = [], []
    for v in values:
        g = hits[hits.variant == tuning_tag(name, param, v)]
        if g.empty:
            continue
        seeds = sorted(set(g.seed))
        for ds, gd in [*g.groupby("dataset", sort=False), ("all", g)]:
            rows.append({"method": name, "setting": f"{param}={v:g}", "dataset": ds,
                         "held_out_seeds": _seed_text(seeds), "runs": len(gd),
                         "median_trained_top01": censored_quantiles(gd.samples_top01, (0.5,))[0],
                         "censored": int(np.isinf(gd.samples_top01).sum()),
                         "median_trained_top1": censored_quantiles(gd.samples_top1, (0.5,))[0]})
        scores.append((censored_quantiles(g.samples_top01, (0.5,))[0],
                       censored_quantiles(g.samples_top1, (0.5,))[0], v))
    if not scores:
        raise ValueError(f"no tuning runs of {name}; run without changing --tune-seeds mid-way")
    best = min(scores, key=lambda t: (t[0], t[1]))[2]
    df = pd.DataFrame(rows)
    df["chosen"] = [s == f"{param}={best:g}" for s in df.setting]
    return {param: best}, df


def _seed_text(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def summarize(hits: pd.DataFrame, cap: int, variants: list[str], datasets: list[str]) -> pd.DataFrame:
    """The ablation table (numbers; formatting happens on writing)."""
    import pandas as pd
    from nasrepro.bench.analysis import censored_quantiles

    rows = []
    for ds in datasets:
        for v in variants:
            g = hits[(hits.variant == v) & (hits.dataset == ds)]
            if g.empty:
                continue
            q25, q50, q75 = censored_quantiles(g.samples_top01)
            total = g.samples_top01 + g.source_cost
            rows.append({"variant": v, "dataset": ds, "n_seeds": len(g), "median_samples_top01": q50,
                         "iqr_low": q25, "iqr_high": q75, "censored": int(np.isinf(g.samples_top01).sum()),
                         "median_samples_top1": censored_quantiles(g.samples_top1, (0.5,))[0],
                         "source_evals": float(g.source_evals.median()),
                         "median_total_top01": censored_quantiles(total, (0.5,))[0],
                         "source_target_spearman": float(g.source_target_spearman.median())
                         if g.source_target_spearman.notna().any() else np.nan})
    df = pd.DataFrame(rows)
    ppo = df[df.variant == "ppo"].set_index("dataset")["median_samples_top01"] if not df.empty else {}
    df["speedup_vs_ppo"] = [ppo[d] / m if d in getattr(ppo, "index", ()) and np.isfinite(ppo[d]) and np.isfinite(m)
                            else np.nan for d, m in zip(df.dataset, df.median_samples_top01)]
    return df


def differences(hits: pd.DataFrame, variants: list[str], datasets: list[str]) -> pd.DataFrame:
    """Median differences (paired by seed, bootstrap 95% interval) of every variant vs PPO and vs both
    REINFORCE rows, in trained architectures to the top 0.1%; for transfer rows also counting the source."""
    import pandas as pd
    from nasrepro.bench.analysis import paired_median_difference, verdict

    pairs = [(v, "ppo") for v in variants if v != "ppo"]
    pairs += [("reinforce-tuned", "reinforce"), ("ppo", "reinforce"), ("ppo", "reinforce-tuned")]
    rows = []
    for ds in datasets:
        for a, b in pairs:
            ga = hits[(hits.variant == a) & (hits.dataset == ds)].set_index("seed")
            gb = hits[(hits.variant == b) & (hits.dataset == ds)].set_index("seed")
            seeds = sorted(set(ga.index) & set(gb.index))
            if not seeds:
                continue
            metrics = [("trained to top 0.1%", ga.samples_top01)]
            if ga.source_cost.any():
                metrics.append(("incl. source run", ga.samples_top01 + ga.source_cost))
            for metric, col in metrics:
                d = paired_median_difference(col.loc[seeds].to_numpy(), gb.samples_top01.loc[seeds].to_numpy())
                rows.append({"variant": a, "vs": b, "dataset": ds, "metric": metric, "seeds": len(seeds),
                             "median_diff": d["diff"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                             "verdict": verdict(d, "archs", 0)})
    return pd.DataFrame(rows)


def critic_table(hits: pd.DataFrame, cap: int) -> pd.DataFrame:
    """Sampled vs trained and the critic's calibration (predicted vs measured reward of trained archs)."""
    import pandas as pd
    from nasrepro.bench.analysis import censored_quantiles
    from scipy.stats import spearmanr

    rows = []
    for (v, ds), g in hits.groupby(["variant", "dataset"], sort=False):
        if "_calib" not in g or not g["_calib"].notna().any():
            continue
        cal = np.array([c for cs in g["_calib"].dropna() for c in cs])
        z = (cal[:, 2] - cal[:, 0]) / np.clip(cal[:, 1], 1e-9, None)
        rows.append({"variant": v, "dataset": ds,
                     "trained_to_hit": censored_quantiles(g.samples_top01, (0.5,))[0],
                     "sampled_to_hit": g.sampled_to_hit.median(), "spared_critic_to_hit": g.spared_critic_to_hit.median(),
                     "spared_known_to_hit": g.spared_known_to_hit.median(), "sampled_run": g.sampled.median(),
                     "spared_critic_run": g.spared_critic.median(), "calib_n": len(cal),
                     "calib_spearman": float(spearmanr(cal[:, 0], cal[:, 2]).statistic),
                     "abs_z_lt1": float(np.mean(np.abs(z) < 1)), "abs_z_lt2": float(np.mean(np.abs(z) < 2))})
    return pd.DataFrame(rows)


def _fmt_table(df: pd.DataFrame, cap: int, censored_cols: tuple[str, ...], digits: dict[str, int]) -> pd.DataFrame:
    from nasrepro.bench.analysis import fmt_censored

    out = df.copy()
    for c in censored_cols:
        if c in out:
            out[c] = [fmt_censored(x, cap, 1) if np.isfinite(x) or np.isinf(x) else "" for x in out[c]]
    for c, d in digits.items():
        if c in out:
            out[c] = ["" if not np.isfinite(x) else f"{x:.{d}f}" for x in out[c]]
    return out


def describe_variants(runs: list[dict[str, Any]], variants: list[str]) -> list[str]:
    """One line per variant with its resolved parameters, read from the runs' meta."""
    from nasrepro.bench.analysis import run_params

    lines = []
    for v in variants:
        params = run_params(runs, v)
        if not params:
            continue
        shown = ", ".join(f"{k}={val}" for k, val in params.items() if k != "transfer_from")
        base = next((r["meta"].get("base_method") for r in runs if r["meta"].get("tag") == v), "")
        lines.append(f"{v} (= {base}): {shown}")
    return lines


def run_tabular(args: argparse.Namespace, out: Path) -> pd.DataFrame:
    from nasrepro.bench.nb201.tables import normalize_dataset
    from nasrepro.bench.provenance import provenance
    from nasrepro.bench.runner import run_grid
    from nasrepro.reproduce.cmd_core import grid_options, parse_seeds

    seeds = parse_seeds(args.seeds)
    tune_seeds = parse_seeds(args.tune_seeds)
    overlap = sorted(set(seeds) & set(tune_seeds))
    if overlap:
        raise ValueError(f"--tune-seeds and --seeds share seed(s) {overlap[:5]}; tune on held-out seeds, e.g. 100-109")
    bad = [v for v in args.variants if v not in VARIANTS]
    if bad:
        raise ValueError(f"unknown --variants {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
    variants = [v for v in VARIANTS if v in args.variants]
    datasets = [normalize_dataset(d) for d in args.datasets]
    if args.cap < 1:
        raise ValueError(f"--cap must be >= 1, got {args.cap}")
    table = _table_path(args.table)
    runs = out / "runs"
    truths = {ds: Truth(table, ds) for ds in datasets}
    _limit_threads()

    # 1. tuning: learning rates, then the critic's k at the chosen PPO learning rate
    chosen: dict[str, dict[str, Any]] = {}
    tuning_rows = []
    for phase in (["reinforce", "ppo"], ["ppo+critic"]):
        specs = tuning_specs(phase, datasets, tune_seeds, args.cap, table,
                             fixed=chosen.get("ppo") if phase == ["ppo+critic"] else None)
        run_grid(specs, runs, **grid_options(args, 1))
        hits = run_hits(specs, runs, truths, args.cap)
        for name in phase:
            chosen[name], rows = choose(hits, name)
            tuning_rows.append(rows)
    # 2.-4. grid, held-out sources, transfer grid
    phase1, phase2 = grid(datasets, seeds, variants, args.cap, table, runs, chosen)
    run_grid(phase1, runs, **grid_options(args, 1))
    write_heldout_sources(phase2, runs, truths, seeds)
    run_grid(phase2, runs, **grid_options(args, 1))

    import pandas as pd

    tuning = pd.concat(tuning_rows, ignore_index=True)
    reported = [s for s in phase1 + phase2 if s.label in variants and dict(s.bench_options)["dataset"] in datasets]
    hits = run_hits(reported, runs, truths, args.cap)
    df = summarize(hits, args.cap, variants, datasets)
    diffs = differences(hits, variants, datasets)
    critic = critic_table(hits, args.cap)
    from nasrepro.bench.analysis import load_runs

    meta_runs = load_runs(dict.fromkeys(s.path(runs) for s in reported if s.seed == seeds[0]))
    prov = provenance(sources={"table": table, "runs": str(runs)},
                      extra={"seeds": args.seeds, "tune_seeds": args.tune_seeds, "cap": args.cap})
    write_tabular(out, df, diffs, critic, tuning, hits, meta_runs, args, prov, truths)
    print(df.to_string(index=False))
    return df


def write_heldout_sources(phase2: list[RunSpec], runs: Path, truths: dict[str, Truth], seeds: list[int]) -> None:
    """For every held-out transfer run: its source run without the target's top-1% cells (deterministic
    bytes, so the runner's fingerprint of ``transfer_from`` is the same on every rerun)."""
    from nasrepro.bench.io import atomic_write_jsonl, read_jsonl

    for spec in phase2:
        if VARIANTS[spec.label][2] != "heldout":
            continue
        dest = Path(dict(spec.params)["transfer_from"])
        ds = dict(spec.bench_options)["dataset"]
        src_ds, src_seed = transfer_source(ds, spec.seed, seeds)
        src = runs / src_ds / SOURCE_VARIANT / f"seed{src_seed}.jsonl"
        rows = read_jsonl(src)
        steps = [r for r in rows if r.get("type") == "step"]
        kept = [r for r in steps if r["arch"] not in truths[ds].top1]
        meta = {**rows[0], "filtered_from": {"run": f"{src_ds}/{SOURCE_VARIANT}/seed{src_seed}", "n_steps": len(steps),
                                             "removed": f"the {len(steps) - len(kept)} top-1% cells of {ds}"}}
        atomic_write_jsonl(dest, [meta, *kept])


def write_tabular(out: Path, df: pd.DataFrame, diffs: pd.DataFrame, critic: pd.DataFrame, tuning: pd.DataFrame,
                  hits: pd.DataFrame, meta_runs: list[dict[str, Any]], args: argparse.Namespace,
                  prov: dict[str, Any], truths: dict[str, Truth]) -> None:
    from nasrepro.bench.analysis import write_table
    from nasrepro.bench.plots import curves_figure
    from nasrepro.bench.provenance import write_sidecar

    cap = args.cap
    cols = ["variant", "dataset", "n_seeds", "median_samples_top01", "iqr_low", "iqr_high", "censored",
            "median_samples_top1", "speedup_vs_ppo", "source_evals", "median_total_top01", "source_target_spearman"]
    table = _fmt_table(df[cols], cap, ("median_samples_top01", "iqr_low", "iqr_high", "median_samples_top1",
                                        "median_total_top01"), {"speedup_vs_ppo": 2, "source_target_spearman": 3,
                                                                "source_evals": 0})
    n_seeds = int(df.n_seeds.max())
    claims = _claims(diffs)
    notes = [f"Trained architectures until the first one in the top 0.1% (top 1%) of the dataset by 200-epoch test "
             f"accuracy, median over {n_seeds} seeds ({args.seeds}); runs capped at {cap}; censored runs count as "
             f"'>{cap}'. IQR = 25th-75th percentile.",
             "source_evals: (arch, reward) points given to the critic before the run; median_total_top01 adds the "
             "source run's trained architectures (what the transfer cost); source_target_spearman: Spearman "
             "between the source's rewards and the target task's rewards of the same cells (median over seeds; "
             "1.000 = the source holds the target task's own measurements).",
             "Differences vs PPO and REINFORCE with paired bootstrap 95% intervals: ablation_differences.md.",
             "Tuned on held-out seeds (tuning.csv; chosen = lowest median over datasets and held-out seeds):"]
    for name in TUNING:
        g = tuning[(tuning.method == name) & tuning.chosen & (tuning.dataset == "all")]
        if not g.empty:
            notes.append(f"  {name}: {g.setting.iloc[0]} on seeds {g.held_out_seeds.iloc[0]} "
                         f"(of {', '.join(sorted(set(tuning[tuning.method == name].setting)))})")
    notes.append("Resolved parameters (from the runs' meta):")
    notes += [f"  {line}" for line in describe_variants(meta_runs, list(df.variant.unique()))]
    notes += ["Findings (every difference with its interval; 'lower' = fewer trained architectures):"]
    notes += [f"  {c}" for c in claims]
    write_table(table, out / "ablation", prov, f"FNAS ablation on NAS-Bench-201 ({n_seeds} seeds, cap {cap})", notes)

    dt = diffs.copy()
    dt = _fmt_table(dt, cap, ("median_diff", "ci_low", "ci_high"), {})
    write_table(dt, out / "ablation_differences", prov,
                "FNAS ablation: median differences in trained architectures, paired bootstrap 95% intervals",
                ["median_diff = median(variant) - median(vs), paired by seed; negative = the variant needs fewer.",
                 "'incl. source run' adds the source run's trained architectures to the transfer variant's count."])
    tt = _fmt_table(tuning, cap, ("median_trained_top01", "median_trained_top1"), {})
    write_table(tt, out / "tuning", prov, "FNAS ablation: tuning on held-out seeds",
                ["Each method gets the same budget: the same number of settings x held-out seeds x datasets.",
                 "dataset 'all' pools the datasets; chosen = lowest pooled median to the top 0.1%."])
    if not critic.empty:
        ct = _fmt_table(critic, cap, ("trained_to_hit",), {"calib_spearman": 3, "abs_z_lt1": 2, "abs_z_lt2": 2})
        write_table(ct, out / "ablation_critic", prov, "FNAS critic: sampled vs trained, calibration",
                    ["to_hit: up to the first top-0.1% architecture (censored runs: the whole run); run: whole run.",
                     "Calibration: every trained architecture the critic had predicted (mean, std vs reward)."])
    write_table(hits.drop(columns=[c for c in ("_calib",) if c in hits]), out / "ablation_runs", prov,
                formats=("csv",))
    panels = _curves(hits, truths, out, cap)
    if panels:
        path = out / "ablation_curves.png"
        curves_figure(panels, path, "trained architectures", "incumbent test accuracy (200 ep, %)",
                      "NB201: incumbent (by 12-ep val) test accuracy", band="iqr", xscale="log")
        write_sidecar(path, prov)


def _claims(diffs: pd.DataFrame) -> list[str]:
    """The findings, generated: a difference is claimed only where its interval excludes 0."""
    out = []
    for r in diffs.itertuples():
        if r.metric != "trained to top 0.1%" and r.vs != "ppo":
            continue
        out.append(f"{r.variant} vs {r.vs}, {r.dataset}{' (' + r.metric + ')' if r.metric != 'trained to top 0.1%' else ''}: "
                   f"{r.verdict}")
    tuned = diffs[(diffs.variant == "ppo") & (diffs.vs == "reinforce-tuned") & (diffs.metric == "trained to top 0.1%")]
    for r in tuned.itertuples():
        if r.ci_high < 0:
            out.append(f"{r.dataset}: PPO needs fewer trained architectures than tuned REINFORCE.")
        elif r.ci_low > 0:
            out.append(f"{r.dataset}: tuned REINFORCE beats PPO on this metric.")
        else:
            out.append(f"{r.dataset}: tuned REINFORCE and PPO are not distinguishable on this metric.")
    return out


def _curves(hits: pd.DataFrame, truths: dict[str, Truth], out: Path, cap: int) -> dict[str, Any]:
    from nasrepro.bench.analysis import load_runs, reported_curve

    panels: dict[str, Any] = {}
    for ds in hits.dataset.unique():
        curves = {}
        for v in hits.variant.unique():
            g = hits[(hits.dataset == ds) & (hits.variant == v)]
            runs = load_runs(out / "runs" / ds / v / f"seed{s}.jsonl" for s in g.seed)
            if runs:  # test accuracy of the incumbent chosen by the search signal (not a running max)
                curves[v] = np.array([reported_curve(r, truths[ds].test.__getitem__, cap) for r in runs])
        panels[ds] = (np.arange(1, cap + 1), curves)
    return panels


def _limit_threads() -> None:
    # many tiny BLAS calls: threads only add contention (measured 40x slower on a shared 2-core box)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass


# ------------------------------------------------------------------------------ live mode


def live_options(args: argparse.Namespace) -> dict[str, Any]:
    try:
        options = json.loads(args.live_options)
    except json.JSONDecodeError as err:
        raise ValueError(f"--live-options is not JSON: {err}") from None
    if not isinstance(options, dict):
        raise ValueError("--live-options must be a JSON object, e.g. '{\"epochs\": 2}'")
    if args.live_rollouts < 1 or args.live_batch < 1:
        raise ValueError("--live-rollouts and --live-batch must be >= 1")
    if not 0 < args.live_target <= 100:
        raise ValueError(f"--live-target must be a validation accuracy in (0, 100] %, got {args.live_target}")
    return options


def live_specs(args: argparse.Namespace, seeds: list[int], runs: Path) -> list[RunSpec]:
    """PPO with and without the pool; each pool run starts from an empty pool of its own (``fresh``)."""
    opts = {"dataset": args.live_dataset, "config": args.live_config, **live_options(args)}
    out = []
    for s in seeds:
        base = {**opts, "seed": s}
        pool = {**base, "weight_pool": str(runs / "pools" / f"seed{s}"), "pool_mode": "fresh",
                "pool_rule": args.pool_rule, "pool_match": args.pool_match, "pool_max_mb": args.pool_max_mb}
        for tag, o in zip(LIVE_ARMS, (base, pool)):
            out.append(RunSpec("nb201-live", "ppo", s, f"{args.live_rollouts}evals", tuple(sorted(o.items())),
                               params=(("batch_size", args.live_batch),), tag=tag, group="live"))
    return out


def probe_specs(search: list[RunSpec], runs: Path) -> list[RunSpec]:
    """For each pool run: its final architecture trained from the final pool (read-only) and fresh."""
    from nasrepro.bench.nb201.weight_pool import export_pool
    from nasrepro.bench.runner import load_run

    out = []
    for spec in search:
        opts = dict(spec.bench_options)
        if "weight_pool" not in opts:
            continue
        arch = load_run(spec.path(runs))["final"]["final_arch"]
        frozen = runs / "probe_pools" / f"seed{spec.seed}"
        export_pool(opts["weight_pool"], frozen)
        base = {k: v for k, v in opts.items() if not k.startswith("pool_") and k != "weight_pool"}
        base["curve"] = True
        inherited = {**base, "weight_pool": str(frozen), "pool_mode": "frozen", "pool_match": opts["pool_match"]}
        for tag, o in (("inherited", inherited), ("fresh", base)):
            out.append(RunSpec("nb201-live", "fixed", spec.seed, "1evals", tuple(sorted(o.items())),
                               params=(("archs", arch),), tag=tag, group="live-probe"))
    return out


def run_live(args: argparse.Namespace, out: Path) -> pd.DataFrame:
    """PPO with vs without the lifelong weight pool on real images (nb201-live), then the probes."""
    from nasrepro.bench.provenance import provenance
    from nasrepro.bench.runner import run_grid
    from nasrepro.reproduce.cmd_core import grid_options, parse_seeds

    seeds = parse_seeds(args.live_seeds)
    runs = out / "runs"
    search = live_specs(args, seeds, runs)
    run_grid(search, runs, **grid_options(args, 1))
    probes = probe_specs(search, runs)
    run_grid(probes, runs, **grid_options(args, 1))
    prov = provenance(sources={"runs": str(runs)},
                      extra={"live_seeds": args.live_seeds, "live_target": args.live_target})
    return write_live(out / "live", search, probes, runs, args, prov)


def write_live(dest: Path, search: list[RunSpec], probes: list[RunSpec], runs: Path, args: argparse.Namespace,
               prov: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd
    from nasrepro.bench.analysis import (
        censored_quantiles,
        first_hit,
        load_runs,
        paired_difference,
        paired_median_difference,
        run_params,
        step_values,
        verdict,
        write_table,
    )
    from nasrepro.bench.reference import load_reference_csv

    target = float(args.live_target)
    batch = int(args.live_batch)
    rows = []
    loaded = load_runs(s.path(runs) for s in search)
    for spec, run in zip(search, loaded):
        score = step_values(run, "score")
        cum = step_values(run, "cum_cost_s")
        cpu = np.cumsum(step_values(run, "cpu_s"))  # CPU seconds: robust to a busy machine's waiting
        hit = first_hit(score, target)
        init = [s.get("extra", {}).get("init", {}) for s in run["steps"]]
        after = init[batch:]
        rows.append({"arm": spec.label, "seed": spec.seed, "rollouts": len(score),
                     "s_per_rollout": float(step_values(run, "cost_s").mean()),
                     "cpu_s_per_rollout": float(step_values(run, "cpu_s").mean()),
                     "best_val": float(score.max()), "final_test_acc": run["final"].get("final_test_acc"),
                     "rollouts_to_target": hit,
                     "seconds_to_target": float(cum[int(hit) - 1]) if np.isfinite(hit) else np.inf,
                     "cpu_seconds_to_target": float(cpu[int(hit) - 1]) if np.isfinite(hit) else np.inf,
                     "hit_ratio_after_first_batch": float(np.mean([i["pool_hit_ratio"] for i in after]))
                     if after and "pool_hit_ratio" in after[0] else np.nan,
                     "exact_hit_ratio_after_first_batch": float(np.mean([i["pool_exact_ratio"] for i in after]))
                     if after and "pool_exact_ratio" in after[0] else np.nan})
    per_seed = pd.DataFrame(rows)
    probe_runs = dict(zip(((s.label, s.seed) for s in probes), load_runs(s.path(runs) for s in probes)))
    curves = {k: r["steps"][0]["extra"].get("val_curve", [r["steps"][0]["score"]]) for k, r in probe_runs.items()}
    seeds = sorted(per_seed.seed.unique())
    summary = []
    for arm in LIVE_ARMS:
        g = per_seed[per_seed.arm == arm]
        r2t = censored_quantiles(g.rollouts_to_target, (0.5,))[0]
        s2t = censored_quantiles(g.seconds_to_target, (0.5,))[0]
        summary.append({"arm": arm, "seeds": len(g), "s_per_rollout": g.s_per_rollout.mean(),
                        "cpu_s_per_rollout": g.cpu_s_per_rollout.mean(), "best_val": g.best_val.mean(),
                        "final_test_acc": g.final_test_acc.mean(), "median_rollouts_to_target": r2t,
                        "reached_target": int(np.isfinite(g.rollouts_to_target).sum()),
                        "median_seconds_to_target": s2t,
                        "median_cpu_seconds_to_target": censored_quantiles(g.cpu_seconds_to_target, (0.5,))[0],
                        "hit_ratio": g.hit_ratio_after_first_batch.mean(),
                        "exact_hit_ratio": g.exact_hit_ratio_after_first_batch.mean()})
    summary_df = pd.DataFrame(summary)
    a = per_seed[per_seed.arm == "ppo+pool"].set_index("seed")
    b = per_seed[per_seed.arm == "ppo"].set_index("seed")
    d_roll = paired_median_difference(a.rollouts_to_target.loc[seeds].to_numpy(),
                                      b.rollouts_to_target.loc[seeds].to_numpy())
    d_sec = paired_median_difference(a.seconds_to_target.loc[seeds].to_numpy(), b.seconds_to_target.loc[seeds].to_numpy())
    s_none, s_pool = summary_df.median_seconds_to_target  # LIVE_ARMS order: ppo, ppo+pool
    speed = s_none / s_pool if np.isfinite(s_pool) and np.isfinite(s_none) and s_pool > 0 else np.nan
    epochs = max(len(c) for c in curves.values()) if curves else 0
    probe = []
    for e in range(epochs):
        inh = np.array([curves[("inherited", s)][e] for s in seeds if ("inherited", s) in curves])
        fr = np.array([curves[("fresh", s)][e] for s in seeds if ("fresh", s) in curves])
        d = paired_difference(inh, fr)
        probe.append({"epoch": e + 1, "inherited_val": inh.mean(), "fresh_val": fr.mean(), "seeds": len(inh),
                      "difference": verdict(d, "pt", 2)})
    probe_df = pd.DataFrame(probe)
    ppo = run_params(loaded, "ppo")
    bench_meta = loaded[0]["meta"]
    pool_opts = next(r["meta"]["settings"]["bench_options"] for s, r in zip(search, loaded) if s.label == "ppo+pool")
    pool_text = ", ".join(f"{k}={v}" for k, v in pool_opts.items() if k.startswith("pool_"))
    claims = load_reference_csv("fnas_claims.csv")
    pool_claim = claims[claims.component.str.contains("pool", case=False)].iloc[0]
    notes = [
        f"Small on purpose (a shared 2-core CPU): nb201-live {bench_meta.get('dataset')}, config "
        f"{bench_meta.get('config')}; {len(seeds)} seeds, {int(per_seed.rollouts.max())} rollouts each, PPO "
        + ", ".join(f"{k}={v}" for k, v in ppo.items()) + ".",
        f"Target validation accuracy {target:g}% (given with --live-target before the runs, not computed from them).",
        f"Weight pool (bench/nb201/weight_pool.py): {pool_text}, emptied before each run. Hit ratio: share of "
        "parameterised blocks initialised from the pool over the rollouts after the first PPO batch (the first "
        "batch inherits from an empty pool: strict fairness); exact = identity key, the rest by the similarity rule.",
        f"Pool vs no pool, rollouts to target (median difference, paired bootstrap 95%): {verdict(d_roll, 'rollouts', 1)}",
        f"Pool vs no pool, seconds to target: {verdict(d_sec, 's', 1)}; speed-up of the median "
        f"{'n/a (a median did not reach the target)' if not np.isfinite(speed) else f'{speed:.2f}x'}"
        f" vs the published {pool_claim.claim_iclr_submission_seed!r} (FNAS paper, not per benchmark).",
        "Probe (below): the pool arm's final architecture, trained from the final pool (read-only) and from "
        "scratch, same seed and data; validation accuracy after each epoch, mean over seeds with a paired "
        "bootstrap 95% interval of the difference.",
    ]
    summary_fmt = _fmt_table(summary_df, int(per_seed.rollouts.max()), ("median_rollouts_to_target",), {})
    for c in ("median_seconds_to_target", "median_cpu_seconds_to_target"):
        summary_fmt[c] = [f"{x:.1f}" if np.isfinite(x) else "never" for x in summary_df[c]]
    notes += ["Seconds are measured wall-clock seconds of the rollouts (build, inherit, train, validate, write "
              "back) on a shared, busy machine; CPU seconds of the process beside them.",
              "#### Probe: inherited vs fresh weights", _markdown(probe_df)]
    write_table(summary_fmt, dest / "live", prov, "FNAS live: PPO with vs without the lifelong block-weight pool",
                notes)
    write_table(per_seed, dest / "live_runs", prov, formats=("csv",))
    write_table(probe_df, dest / "live_probe", prov, formats=("csv",))
    print(summary_df.to_string(index=False))
    print(probe_df.to_string(index=False))
    return summary_df


def _markdown(df: pd.DataFrame) -> str:
    from nasrepro.bench.analysis import markdown_table

    return markdown_table(df)


# ------------------------------------------------------------------------------ entry points


def run(args: argparse.Namespace) -> int:
    from nasrepro.bench.paths import check_out_dir, results_dir

    out = check_out_dir(args.out if args.out is not None else results_dir() / "fnas")
    if args.mode in ("live", "both"):
        live_options(args)  # bad live arguments fail before a tabular grid starts
    if args.mode in ("tabular", "both"):
        run_tabular(args, out)
    if args.mode in ("live", "both"):
        run_live(args, out)
    return 0


def demo(out_dir: Path) -> str:
    """A short tabular FNAS vs PPO on NB201 CIFAR-10 (3 seeds, 300 trained archs each)."""
    from nasrepro.bench.analysis import fmt_censored, load_runs
    from nasrepro.bench.paths import data_dir
    from nasrepro.bench.registry import make_benchmark
    from nasrepro.bench.runner import run_grid

    _limit_threads()
    # the shared table when NASREPRO_DATA is set, else the embedded default (CIFAR-10; no data needed)
    shared = data_dir()
    table = _table_path(None) if shared is not None and (shared / "nb201" / "nb201_accuracy.csv").exists() \
        else "embedded"
    specs = [_spec(m, m, "cifar10", s, 300, table, p) for m, p in (("ppo", {}), ("fnas", {"replay": True}))
             for s in range(3)]
    paths = run_grid(specs, Path(out_dir) / "runs", progress=False)
    truth = Truth(table, "cifar10")
    signal = make_benchmark("nb201", dataset="cifar10", table=table).describe().get("signal", "?")
    lines = [f"## FNAS vs PPO (NB201 CIFAR-10, table {table if table == 'embedded' else Path(table).name}, "
             f"reward {signal}; 3 seeds x 300 trained archs; FNAS = critic + replay, no transfer)", "",
             "| method | seed | trained archs to top 1% | final test acc | spared by critic |", "|---|---|---|---|---|"]
    for spec, run in zip(specs, load_runs(paths)):
        hit = truth.hits(run, 300)[1]
        spared = run["steps"][-1].get("extra", {}).get("spared_critic", 0)
        lines.append(f"| {spec.label} | {spec.seed} | {fmt_censored(hit, 300)} | "
                     f"{run['final']['final_test_acc']:.2f} | {spared} |")
    text = "\n".join(lines) + "\n"
    from nasrepro.bench.io import atomic_write_text

    atomic_write_text(Path(out_dir) / "fnas_demo.md", text)
    return text
