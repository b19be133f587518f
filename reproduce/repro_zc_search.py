"""Zero-cost NAS search figure (Abdelfattah et al. 2021, README Fig. 2): test accuracy against the
number of trained models (0-300) for RS, REINFORCE, REA (aging evolution) and BP, each plain, with
zero-cost warmup (1000, 3000, 15625) and with move proposal, on NB201 CIFAR-100 and CIFAR-10.

Specs + analysis: every variant is a :class:`bench.runner.RunSpec` whose wrappers are data
(``warmup:n=...,pool=...,proxy=...,scores=PATH`` / ``move:k=...``, methods/zero_cost.py), one
``run_grid`` runs them (resumable; a run made with another proxy, scores file, table or budget is
refused as stale, or redone with ``--redo-stale``), then the curves come from the trajectories.

Proxy scores are *cached*: a ``scores.csv`` of ``nasrepro correlate --archs all`` per dataset
(``--scores DATASET=PATH``); its ``seconds`` are the proxy cost, reported apart from training.
``--proxy params`` (or ``flops``) is computed by the benchmark without a scores file; the parameter
count is also the baseline proxy (``--baseline-proxy``) each variant is run with beside the main one.

Settings (documented choices; the paper's own tool is unreleased, shared/reference NOTES.md 1d):

- signal: 200-epoch validation accuracy (the notebook's ``hp='200'`` ``valid-accuracy``); the
  curve is the 200-epoch *test* accuracy of the incumbent by validation after n trained models
  (what a user would get), read only in the analysis; the notebook's running maximum of test
  accuracy (an oracle curve) is written beside it;
- REA: the notebook's population 64, tournament 10 drawn without replacement; REINFORCE: NB201's
  defaults; RS: uniform with replacement; BP: the whole space ranked, retrained every
  ``--bp-retrain`` results;
- warmup pools: RS all N in proxy order (notebook), REA its population (64), REINFORCE the top 64,
  BP all N (pre-training); move: REA all 24 one-edge neighbours of the tournament winner, RS/BP 10
  candidates, REINFORCE 10 and 100 (the figure's RL+move(10)/(100)); best-proxy w.p. 0.75.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.runner import RunSpec

NAME = "zc-search"
DESCRIPTION = ("zero-cost warmup and move proposal for RS, REINFORCE, REA and BP on NB201 "
               "(test accuracy vs trained models, 0-300; cached proxy scores, params baseline)")
DATASETS = ("cifar100", "cifar10")
METHODS = {  # label -> (registered name, params)
    "RS": ("random", {}),
    "REINFORCE": ("reinforce", {}),
    "REA": ("rea", {"population_size": 64, "sample_size": 10, "sample_with_replacement": False}),
    "BP": ("bp", {"n_candidates": 15625}),
}
WARMUP_POOL = {"RS": None, "REINFORCE": 64, "REA": 64, "BP": None}
MOVES = {"RS": (10,), "REINFORCE": (10, 100), "REA": (24,), "BP": (10,)}
ANALYTIC = ("params", "flops")
REPORT_AT = (10, 20, 50, 100, 200, 300)
COMPARE_AT = (20, 100)  # paired differences: early (the figure's AE+warmup read-off point) and later
# The published direction of each variant vs its plain method (NOTES.md 1d: README Fig. 2 panels on NB201
# CIFAR-100; abstract: "for all search methodologies ... significantly improve sample efficiency").
PUBLISHED = {  # (method, kind) -> (direction vs plain, where it was read)
    ("RS", "warmup"): ("higher", "RAND+warmup(1000/3000/15625) panel"),
    ("REINFORCE", "warmup"): ("higher", "RL+warmup(1000/3000/15625) panel"),
    ("REA", "warmup"): ("higher early", "AE+warmup(15625) ~73.1% within ~20 models; plain AE ~73.2% only near 200"),
    ("BP", "warmup"): ("higher", "BP+warmup(256/512) panel; our N differ"),
    ("REINFORCE", "move"): ("higher", "RL+move(10)/(100) panel"),
    ("REA", "move"): ("higher", "AE+move panel"),
}
MAKE_SCORES = ("nasrepro correlate --bench nb201 --dataset {ds} --archs all --proxies {proxy} "
               "--out results/zc_correlation/{ds}-{proxy}-all")


@dataclass(frozen=True)
class Variant:
    method: str  # label in METHODS
    kind: str  # plain | warmup | move
    arg: int = 0  # n_warmup or n_candidates

    @property
    def label(self) -> str:
        return self.method if self.kind == "plain" else f"{self.method}+{self.kind}({self.arg})"

    def wrapper(self, proxy: str, scores: str | None) -> tuple[str, ...]:
        """The wrapper spec (data, part of the run's identity); ``scores`` None: computed by the benchmark."""
        if self.kind == "plain":
            return ()
        src = f",scores={scores}" if scores else ""
        if self.kind == "warmup":
            return (f"warmup:n={self.arg},pool={WARMUP_POOL[self.method]},proxy={proxy}{src}",)
        return (f"move:k={self.arg},proxy={proxy}{src}",)


def variants(methods: tuple[str, ...], warmups: tuple[int, ...]) -> list[Variant]:
    out = []
    for m in methods:
        out.append(Variant(m, "plain"))
        out += [Variant(m, "warmup", n) for n in warmups]
        out += [Variant(m, "move", k) for k in MOVES[m]]
    return out


# ----------------------------------------------------------------------------- arguments


def parse_scores(items: list[str] | None, datasets: tuple[str, ...], proxy: str) -> dict[str, str | None]:
    """``--scores`` values: ``PATH`` (every dataset) or ``DATASET=PATH``; none for params/flops."""
    if proxy in ANALYTIC:
        if items:
            raise ValueError(f"--scores is not used with --proxy {proxy} (the benchmark computes it); drop it")
        return {ds: None for ds in datasets}
    out: dict[str, str | None] = {}
    for item in items or []:
        ds, sep, path = item.partition("=")
        if sep and ds in DATASETS:
            out[ds] = path
        else:
            out.update({d: item for d in DATASETS if d not in out})
    missing = [ds for ds in datasets if not out.get(ds)]
    if missing:
        cmds = "; ".join(MAKE_SCORES.format(ds=ds, proxy=proxy) for ds in missing)
        raise ValueError(f"zc-search needs cached {proxy} scores of all 15,625 cells: pass --scores DATASET=PATH, "
                         f"made by: {cmds} (or --proxy params for the parameter-count baseline)")
    return {ds: str(Path(out[ds]).resolve()) for ds in datasets}  # type: ignore[arg-type]


def baseline_proxy(args: argparse.Namespace) -> str | None:
    """``--baseline-proxy``: None (none, or the main proxy itself), a computed one, or a cached one
    (``--baseline-scores`` then names its files)."""
    baseline = None if str(args.baseline_proxy).lower() in ("", "none") else str(args.baseline_proxy)
    if baseline is not None and baseline not in ANALYTIC and not getattr(args, "baseline_scores", None):
        raise ValueError(f"--baseline-proxy {baseline!r}: choose {', '.join(ANALYTIC)} or none, or give its cached "
                         "scores with --baseline-scores DATASET=PATH")
    if baseline is not None and baseline in ANALYTIC and getattr(args, "baseline_scores", None):
        raise ValueError(f"--baseline-scores is not used with --baseline-proxy {baseline} (the benchmark computes it); "
                         "drop it")
    return None if baseline == args.proxy else baseline  # the main proxy already is the baseline


def parse_baseline_scores(args: argparse.Namespace, datasets: tuple[str, ...], baseline: str | None) -> dict[str, str | None]:
    if baseline is None:
        if getattr(args, "baseline_scores", None):
            raise ValueError("--baseline-scores needs --baseline-proxy naming the proxy of those files")
        return {}
    return parse_scores(getattr(args, "baseline_scores", None), datasets, baseline)


def check_scores(path: str, proxy: str, dataset: str) -> None:
    """Warmup(15625) scores the whole space: a scores file must cover every cell (fail here, in one line)."""
    from nasrepro.bench.nb201.space import NB201Space
    from nasrepro.methods.zero_cost import TableScorer

    n = len(TableScorer.from_csv(path, proxy, NB201Space()).scores)
    if n < 15625:
        raise ValueError(f"{path} has {proxy} scores for {n:,} of 15,625 cells; zc-search needs all "
                         f"(warmup(15625) scores the whole space): {MAKE_SCORES.format(ds=dataset, proxy=proxy)}")


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(x) for x in str(text).split(",") if x.strip())
    except ValueError:
        raise ValueError(f"malformed {flag} {text!r}: use comma-separated whole numbers, e.g. 1000,3000") from None
    if any(v < 1 for v in vals):
        raise ValueError(f"{flag} {text!r}: every value must be >= 1")
    return vals


def _names(text: str, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    vals = tuple(x.strip() for x in str(text).split(",") if x.strip())
    bad = [v for v in vals if v not in allowed]
    if bad or not vals:
        raise ValueError(f"{flag} {text!r}: unknown {bad or 'empty'}; choose from {', '.join(allowed)}")
    return vals


def add_arguments(p: argparse.ArgumentParser) -> None:
    from nasrepro.reproduce.cmd_core import add_grid_arguments

    p.add_argument("--proxy", default="synflow", help="proxy (column of scores.csv; params/flops need none)")
    p.add_argument("--scores", action="append", metavar="[DATASET=]PATH",
                   help="cached proxy scores (scores.csv of 'nasrepro correlate --archs all'), per dataset")
    p.add_argument("--baseline-proxy", default="params",
                   help="every variant is also run with this proxy: params|flops (computed by the benchmark), none, "
                        "or a cached proxy with --baseline-scores (e.g. synflow, to compare two proxies paired by seed)")
    p.add_argument("--baseline-scores", action="append", metavar="[DATASET=]PATH",
                   help="cached scores of --baseline-proxy (scores.csv of 'nasrepro correlate --archs all'), per dataset")
    p.add_argument("--table", default=None, help="NB201 table with CIFAR-10 and CIFAR-100 (default: $NASREPRO_DATA "
                   "CSV; 'embedded' = the embedded CIFAR-10 default)")
    p.add_argument("--datasets", default="cifar100,cifar10")
    p.add_argument("--methods", default="RS,REINFORCE,REA,BP")
    p.add_argument("--warmups", default="1000,3000,15625", help="warmup sizes N (comma-separated)")
    p.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 0,1,2 (paper figure: 20+)")
    p.add_argument("--evals", type=int, default=300, help="trained models per run (paper: 300)")
    p.add_argument("--bp-retrain", type=int, default=5, help="BP retrains its predictor every K results")
    add_grid_arguments(p)
    p.add_argument("--out", default=None, help="output folder (default results/zc_search)")


# ----------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Plan:
    """The grid: specs and, per spec, what the analysis groups it by."""

    specs: list[RunSpec]
    rows: list[dict[str, Any]]  # {'dataset', 'method', 'variant', 'kind', 'proxy', 'role'} per spec


def plan(args: argparse.Namespace) -> Plan:
    from nasrepro.reproduce.cmd_core import parse_seeds

    datasets = _names(args.datasets, DATASETS, "--datasets")
    methods = _names(args.methods, tuple(METHODS), "--methods")
    warmups = _ints(args.warmups, "--warmups") if args.warmups else ()
    if args.evals < 1 or args.bp_retrain < 1:
        raise ValueError(f"--evals and --bp-retrain must be >= 1, got {args.evals} and {args.bp_retrain}")
    baseline = baseline_proxy(args)
    scores = parse_scores(args.scores, datasets, args.proxy)
    bscores = parse_baseline_scores(args, datasets, baseline)
    seeds = parse_seeds(args.seeds)
    proxies = [("proxy", args.proxy)] + ([("baseline", baseline)] if baseline else [])
    specs, rows = [], []
    for ds in datasets:
        opts: dict[str, Any] = {"dataset": ds, "fidelity": "200"}
        if args.table:
            opts["table"] = args.table
        for v in variants(methods, warmups):
            name, params = METHODS[v.method]
            params = {**params, **({"retrain_every": args.bp_retrain} if v.method == "BP" else {})}
            for role, proxy in proxies if v.kind != "plain" else [("plain", "")]:
                wrap = v.wrapper(proxy, scores[ds] if role == "proxy" else bscores.get(ds))
                # The path is (dataset, role, variant): another --proxy or --scores lands on the same
                # file and is refused as stale (its wrapper differs), never silently reused.
                group = ds if role != "baseline" else f"{ds}-baseline"
                for s in seeds:
                    specs.append(RunSpec("nb201", name, s, f"{args.evals}evals", tuple(sorted(opts.items())),
                                         tuple(sorted(params.items())), tag=v.label, group=group, wrappers=wrap))
                    rows.append({"dataset": ds, "method": v.method, "variant": v.label, "kind": v.kind,
                                 "proxy": proxy or "-", "role": role, "seed": s})
    return Plan(specs, rows)


def check(p: Plan, args: argparse.Namespace) -> dict[str, Any]:
    """Fail before any run: tables, scores files, method parameters and wrappers (one spec of each)."""
    from nasrepro.bench.registry import make_benchmark
    from nasrepro.reproduce.cmd_core import check_params

    benches = {}
    for spec, row in zip(p.specs, p.rows):
        if row["dataset"] not in benches:
            benches[row["dataset"]] = make_benchmark("nb201", **dict(spec.bench_options))
    for ds, path in parse_scores(args.scores, tuple(benches), args.proxy).items():
        if path:
            check_scores(path, args.proxy, ds)
    baseline = baseline_proxy(args)
    for ds, path in parse_baseline_scores(args, tuple(benches), baseline).items():
        if path and baseline:
            check_scores(path, baseline, ds)
    seen = set()
    for spec, row in zip(p.specs, p.rows):
        key = (spec.method, row["kind"], row["role"])
        if key not in seen:
            seen.add(key)
            check_params(spec.method, benches[row["dataset"]], dict(spec.params), spec.wrappers)
    return benches


def run(args: argparse.Namespace) -> int:
    print(execute(args))
    return 0


def execute(args: argparse.Namespace, title_extra: str = "") -> str:
    from nasrepro.bench.paths import check_out_dir, results_dir
    from nasrepro.bench.runner import run_grid
    from nasrepro.reproduce.cmd_core import grid_options

    out = check_out_dir(args.out if args.out is not None else results_dir() / "zc_search")
    p = plan(args)
    benches = check(p, args)
    paths = run_grid(p.specs, out / "runs", **grid_options(args, len(p.specs)))
    return analyse(out, p, paths, benches, args, title_extra)


# ----------------------------------------------------------------------------- analysis


def per_run_table(p: Plan, paths: list[Path], benches: dict[str, Any], evals: int) -> Any:
    """One row per run: the test accuracy of its incumbent and the oracle (running max of test accuracy)
    after each of REPORT_AT trained models, and its proxy calls and seconds (from the step records)."""
    import pandas as pd
    from nasrepro.bench.analysis import load_runs, oracle_curve, reported_curve, step_values

    truth = {ds: _truth(b) for ds, b in benches.items()}
    rows, curves = [], []
    for row, run in zip(p.rows, load_runs(paths)):
        test = truth[row["dataset"]]
        inc = reported_curve(run, test, evals)
        orc = oracle_curve([s["arch"] for s in run["steps"]], test, evals)
        calls, secs = step_values(run, "proxy_calls"), step_values(run, "proxy_cost_s")
        rec = {**row, "proxy_calls": float(calls[-1]) if len(calls) and np.isfinite(calls[-1]) else 0.0,
               "proxy_cost_s": float(secs[-1]) if len(secs) and np.isfinite(secs[-1]) else 0.0,
               "train_cost_s": float(run["final"]["cost_s"])}
        rec.update({f"test@{n}": inc[n - 1] for n in REPORT_AT if n <= evals})
        rec.update({f"oracle@{n}": orc[n - 1] for n in REPORT_AT if n <= evals})
        rows.append(rec)
        curves.append(inc)
    return pd.DataFrame(rows), curves


def _truth(bench: Any) -> Any:
    """200-epoch test accuracy of an architecture string (memoised): the analysis' ground truth."""
    cache: dict[str, float] = {}

    def test(arch: str) -> float:
        if arch not in cache:
            cache[arch] = float(bench.final(bench.space.from_str(arch))["test_acc"])
        return cache[arch]

    return test


def _diff(per_run: Any, a: dict[str, Any], b: dict[str, Any], n: int) -> dict[str, float] | None:
    """Paired (by seed) difference of test@n between the runs selected by ``a`` and by ``b``."""
    from nasrepro.bench.analysis import paired_difference

    col = f"test@{n}"
    if col not in per_run:
        return None

    def pick(sel: dict[str, Any]) -> Any:
        m = np.logical_and.reduce([per_run[k] == v for k, v in sel.items()])
        return per_run[m].set_index("seed")[col]

    x, y = pick(a), pick(b)
    common = sorted(set(x.index) & set(y.index))
    return paired_difference(x.loc[common], y.loc[common]) if len(common) else None


def summary_table(per_run: Any, evals: int) -> tuple[Any, list[str], dict[str, int]]:
    """(the table, the 'not confirmed' lines, the count of each verdict of the proxy vs the baseline proxy)."""
    import pandas as pd
    from nasrepro.bench.analysis import verdict

    at = [n for n in REPORT_AT if n <= evals]
    cmp_at = [n for n in COMPARE_AT if n <= evals] or [evals]
    rows, failed = [], []
    vs_base: dict[str, int] = {}
    keys = ["dataset", "method", "variant", "kind", "proxy", "role"]
    for key, g in per_run.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        out: dict[str, Any] = {k: row[k] for k in ("dataset", "method", "variant", "proxy")}
        out["seeds"] = len(g)
        out.update({f"test@{n}": f"{g[f'test@{n}'].mean():.2f} ± {g[f'test@{n}'].std(ddof=0):.2f}" for n in at})
        n_orc = max(x for x in at if x <= 50) if any(x <= 50 for x in at) else at[0]
        out[f"oracle@{n_orc}"] = round(float(g[f"oracle@{n_orc}"].mean()), 2)
        out["proxy calls"] = round(float(g["proxy_calls"].mean()))
        out["proxy s"] = round(float(g["proxy_cost_s"].mean()), 1)
        plain = {"dataset": row["dataset"], "method": row["method"], "kind": "plain"}
        this = {k: row[k] for k in ("dataset", "variant", "role")} | {"method": row["method"]}
        claim = PUBLISHED.get((row["method"], row["kind"]), ("", ""))[0]
        held = []
        for n in cmp_at:
            d = _diff(per_run, this, plain, n) if row["kind"] != "plain" else None
            out[f"vs plain @{n}"] = verdict(d).split(":")[0] if d else ""
            held.append((n, d))
        if (per_run["role"] == "baseline").any():
            base = {**{k: row[k] for k in ("dataset", "variant")}, "role": "baseline"}
            d = _diff(per_run, this, base, cmp_at[0]) if row["role"] == "proxy" else None
            out[f"vs baseline proxy @{cmp_at[0]}"] = verdict(d).split(":")[0] if d else ""
            if d:
                word = verdict(d).split(": ")[-1]
                vs_base[word] = vs_base.get(word, 0) + 1
        out["published"] = claim if row["role"] == "proxy" else ""
        out["claim"] = _claim(claim, held) if out["published"] else ""
        if out["claim"].startswith("does not hold"):
            failed.append(f"not confirmed: {row['dataset']} {row['variant']} ({row['proxy']}): {out['claim']}")
        rows.append(out)
    return pd.DataFrame(rows).fillna(""), failed, vs_base


def _claim(claim: str, held: list[tuple[int, dict[str, float] | None]]) -> str:
    """'holds at 20, 100' when the 95% interval of the improvement excludes 0, else 'does not hold: ...'."""
    if not claim.startswith("higher"):
        return ""
    ok = [n for n, d in held if d and d["ci_low"] > 0]
    if ok:
        return "holds at " + ", ".join(map(str, ok)) + " models"
    why = "; ".join(f"@{n}: {'lower' if d and d['ci_high'] < 0 else 'not distinguishable from plain'}"
                    for n, d in held)
    return f"does not hold ({why})"


def analyse(out: Path, p: Plan, paths: list[Path], benches: dict[str, Any], args: argparse.Namespace,
            title_extra: str = "") -> str:
    from nasrepro.bench.analysis import load_runs, run_params, write_table
    from nasrepro.bench.provenance import provenance

    evals = int(args.evals)
    per_run, curves = per_run_table(p, paths, benches, evals)
    table, failed, vs_base = summary_table(per_run, evals)
    seeds = sorted(per_run["seed"].unique())
    sources: dict[str, Any] = {f"table ({ds})": b.describe().get("table_source", b.describe().get("table", "?"))
                               for ds, b in benches.items()}
    for ds, path in parse_scores(args.scores, tuple(benches), args.proxy).items():
        if path:
            sources[f"scores ({ds})"] = path
    baseline = baseline_proxy(args)
    for ds, path in parse_baseline_scores(args, tuple(benches), baseline).items():
        if path:
            sources[f"baseline {baseline} scores ({ds})"] = path
    sources["runs"] = str(out / "runs")
    prov = provenance(sources=sources)
    # Cited settings come from the runs' meta lines (one run of each method suffices: all share them).
    first = {}
    for row, path in zip(p.rows, paths):
        first.setdefault(row["method"], path)
    params = {m: run_params(load_runs([path])) for m, path in first.items()}
    proxies = sorted({r["proxy"] for r in p.rows if r["proxy"] != "-"})
    title = (f"Zero-cost warmup / move proposal on NB201 (proxy {args.proxy}"
             + (f", baseline {'/'.join(x for x in proxies if x != args.proxy)}" if len(proxies) > 1 else "")
             + f"; {len(seeds)} seeds){title_extra}")
    desc = next(iter(benches.values())).describe()
    cmp_at = [n for n in COMPARE_AT if n <= evals] or [evals]
    notes = [
        "test@n: mean ± std over seeds of the 200-epoch test accuracy of the incumbent (best search signal "
        "so far) after n trained models; oracle@n: the notebook's running maximum of test accuracy.",
        f"search signal: {desc.get('signal', '?')}; {evals} trained models per run; seeds {seeds[0]}-{seeds[-1]}.",
        f"vs plain @n / vs baseline proxy @n: mean paired difference over seeds of test@n with a bootstrap 95% "
        f"interval (bench.analysis.paired_difference); a published improvement 'holds' where the interval "
        f"excludes 0 at one of {', '.join(map(str, cmp_at))} models.",
        "proxy calls / proxy s: distinct cells scored and their summed scoring seconds (from the step records; "
        "the scores file's wall seconds; params/flops cost 0), apart from training.",
        *[f"{m} settings (from the runs' meta): " + ", ".join(f"{k}={v}" for k, v in prm.items())
          for m, prm in params.items() if prm],
        "Published (README Fig. 2, NB201 CIFAR-100, read off the plot, shared/reference NOTES.md 1d): all curves "
        "plateau at about 73.2-73.3%; plain AE reaches about 73.2 only near 200 models, AE+warmup(15625) about "
        "73.1 within about 20 models; no numeric table was published for NB201. 'published' is the direction "
        "of the figure's variant vs its plain method (synflow): "
        + "; ".join(f"{m}+{k}: {d} ({src})" for (m, k), (d, src) in PUBLISHED.items())
        + "; RS+move and BP+move are not in the figure.",
        f"Published improvement not confirmed in {len(failed)} of "
        f"{int((table['published'] != '').sum())} rows" + (":" if failed else "."),
        *failed,
    ]
    if vs_base:
        base_name = "/".join(x for x in proxies if x != args.proxy)
        notes.append(f"**{args.proxy} vs the baseline proxy {base_name}** (paired by seed, at {cmp_at[0]} models, same "
                     f"variant): " + ", ".join(f"{word} in {n}" for word, n in sorted(vs_base.items()))
                     + f" of {sum(vs_base.values())} variants.")
    write_table(table, out / "table", prov, title=title, notes=notes)
    write_table(per_run, out / "runs_summary", prov, formats=("csv",))
    for proxy in proxies:
        _figure(out / f"curves_{proxy}.png", p, curves, proxy, prov, f"{title} — {proxy} variants")
    return (out / "table.md").read_text()


def _figure(path: Path, p: Plan, curves: list[np.ndarray], proxy: str, prov: dict[str, Any], title: str) -> None:
    """One panel per (dataset, method): plain and the ``proxy`` variants, mean with a 25-75% band over seeds;
    the panel title gives the published direction."""
    from nasrepro.bench.analysis import write_figure
    from nasrepro.bench.plots import plot_bands, pyplot

    panels: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
    for row, c in zip(p.rows, curves):
        if row["proxy"] in ("-", proxy):
            panels.setdefault((row["dataset"], row["method"]), {}).setdefault(row["variant"], []).append(c)
    datasets = list(dict.fromkeys(ds for ds, _ in panels))
    methods = list(dict.fromkeys(m for _, m in panels))
    fig, axes = pyplot().subplots(len(datasets), len(methods), figsize=(4.8 * len(methods), 3.8 * len(datasets)),
                                  squeeze=False)
    for (ds, m), by_label in panels.items():
        ax = axes[datasets.index(ds)][methods.index(m)]
        ys = {k: np.vstack(v) for k, v in by_label.items()}
        n = next(iter(ys.values())).shape[1]
        plot_bands(ax, np.arange(1, n + 1), ys, band="iqr")
        lo = np.percentile(np.concatenate([y[:, min(9, n - 1)] for y in ys.values()]), 10)
        ax.set_ylim(lo, None)
        pub = "; ".join(f"{k} {d}" for (mm, k), (d, _) in PUBLISHED.items() if mm == m) or "not published"
        ax.set_title(f"{m}, {ds}\npublished vs plain: {pub}", fontsize=9)
        ax.set_xlabel("trained models")
        ax.set_ylabel("test acc. of incumbent (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title} (bands: 25-75% over seeds)", y=1.01)
    fig.tight_layout()
    write_figure(fig, path, prov)


def demo(out_dir: Path) -> str:
    """Small version on the embedded CIFAR-10 table with the params proxy; writes only into ``out_dir``."""
    p = argparse.ArgumentParser()
    add_arguments(p)  # the command's own defaults, so a new option cannot be missing here
    args = p.parse_args(["--proxy", "params", "--baseline-proxy", "none", "--table", "embedded",
                         "--datasets", "cifar10", "--methods", "RS,REA", "--warmups", "1000", "--seeds", "0-4",
                         "--evals", "100", "--workers", "1", "--out", str(out_dir)])
    return execute(args, title_extra=" (demo: embedded table, params proxy)")
