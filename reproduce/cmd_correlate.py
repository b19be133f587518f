"""``nasrepro correlate``: score NB201 cells with zero-cost proxies on one real minibatch, then rank-
correlate each proxy with the 200-epoch test accuracy (and the three-proxy vote).

Outputs in ``--out DIR``: ``runs/`` (the scoring runs: ``fixed`` on the ``nb201-zc`` benchmark through
``run_grid``, resumed run by run), ``scores.csv`` written from them (see :mod:`bench.proxies.store`),
``correlation.csv`` and ``correlation.md``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from nasrepro.bench.io import atomic_write_text

if TYPE_CHECKING:  # pandas loads inside the functions that use it: `nasrepro --help` stays light
    import pandas as pd

NB201_SIZE = 15625
# 200-epoch test accuracy columns of shared/data/nb201/nb201_accuracy.csv (fallback reader)
CSV_TEST_COLUMN = {"cifar10": "cifar10_test_200", "cifar100": "cifar100_test_200", "imagenet16-120": "imagenet16_test_200"}


def parse_archs(spec: str | int, seed: int) -> list[int]:
    """``N`` (the first N of a seeded permutation of all indices, so a larger N extends a smaller
    one), ``all``, or a FILE with one NB201 index per line."""
    text = str(spec).strip()
    if text == "all":
        return list(range(NB201_SIZE))
    if text.isdigit():
        n = int(text)
        if not 1 <= n <= NB201_SIZE:
            raise ValueError(f"--archs {n}: choose 1..{NB201_SIZE}, 'all' or a file of indices")
        return [int(i) for i in np.random.default_rng(seed).permutation(NB201_SIZE)[:n]]
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"--archs {text!r} is neither a number, 'all', nor an existing file of indices")
    out: list[int] = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        if not line.isdigit() or not 0 <= int(line) < NB201_SIZE:
            raise ValueError(f"{path} line {n}: {line!r} is not an NB201 index 0..{NB201_SIZE - 1}")
        if int(line) not in out:
            out.append(int(line))
    if not out:
        raise ValueError(f"{path} lists no architecture index")
    return out


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 0 <= K < N; None -> (0, 1)."""
    if not text:
        return 0, 1
    try:
        k, n = (int(t) for t in text.split("/"))
    except ValueError:
        raise ValueError(f"malformed --shard {text!r}: use K/N, e.g. 0/2 and 1/2 for two workers") from None
    if not 0 <= k < n:
        raise ValueError(f"--shard {text!r}: need 0 <= K < N")
    return k, n


# Cells per run. A run is the unit of resume: an interrupt loses the runs in flight; TE-NAS (about
# 25 CPU s a cell) goes one cell per run, the rest 25 cells (about 2 s of synflow, 25 s of all proxies).
CHUNK = 25
SLOW_PROXIES = ("te_nas_ntk", "te_nas_lr")


def chunk_cells(proxies: tuple[str, ...] | list[str]) -> int:
    return 1 if any(p in SLOW_PROXIES for p in proxies) else CHUNK


def score_specs(indices: list[int], settings: dict[str, Any], images: str | None, store: str) -> list[Any]:
    """The runs that score ``indices`` for one store: ``fixed`` on ``nb201-zc`` (see
    :mod:`nasrepro.bench.proxies.benchmark`), one run per consecutive chunk of cells, each named by its
    first cell and a digest of its cells (a longer ``--archs N`` extends a shorter one run by run)."""
    import hashlib

    from nasrepro.bench.nb201.space import index_to_arch, to_str
    from nasrepro.bench.runner import RunSpec

    proxies = list(settings["proxies"])
    options = {"dataset": settings["dataset"], "proxies": ",".join(proxies), "batch": settings["batch"],
               "seed": settings["seed"]}
    if images is not None:
        options["images"] = images
    if "zico" in proxies:
        options["zico_batches"] = settings.get("zico_batches", 2)
    size = chunk_cells(proxies)
    specs = []
    for k in range(0, len(indices), size):
        cells = indices[k:k + size]
        digest = hashlib.sha256(",".join(map(str, cells)).encode()).hexdigest()[:8]
        specs.append(RunSpec(bench="nb201-zc", method="fixed", seed=int(settings["seed"]), budget=f"{len(cells)}evals",
                             bench_options=tuple(sorted(options.items())),
                             params=(("archs", ";".join(to_str(index_to_arch(i)) for i in cells)),),
                             tag=f"{cells[0]:05d}-{digest}", group=store))
    return specs


def store_rows(specs: list[Any], runs_dir: Path) -> tuple[list[tuple[int, str, dict[str, float], float, float]], int]:
    """The rows of the finished runs among ``specs`` (cells in order, their measured seconds from each
    run's ledger), and how many runs are not finished."""
    import json

    from nasrepro.bench.runner import ledger_path, load_run

    rows, missing = [], 0
    for spec in specs:
        path = spec.path(runs_dir)
        if not path.is_file():
            missing += 1
            continue
        run = load_run(path)
        timing = json.loads(ledger_path(path).read_text(encoding="utf-8")) if ledger_path(path).is_file() else {}
        cells = {int(c[0]): (float(c[1]), float(c[2])) for c in (timing.get("ledger") or {}).get("cells", [])}
        for step in run["steps"]:
            index = int(step["extra"]["index"])
            seconds, cpu = cells.get(index, (float("nan"), float("nan")))
            rows.append((index, step["arch"], step["extra"]["scores"], seconds, cpu))
    return rows, missing


def _stored(path: Path, redo_stale: bool) -> list[tuple[int, str, dict[str, float], float, float]]:
    """The rows of the store at ``path`` (none when it does not exist). A store scored by another
    package version is refused like a stale run, or with ``redo_stale`` ignored (its cells rescored,
    and the store rewritten from current runs only). plan_stores has checked its other settings."""
    import json

    from nasrepro.bench.provenance import package_version
    from nasrepro.bench.proxies.store import read_scores, sidecar_path

    if not path.is_file():
        return []
    try:
        made_by = json.loads(sidecar_path(path).read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        made_by = None
    if made_by != package_version():
        if redo_stale:
            return []
        raise ValueError(f"{path} was scored by nasrepro {made_by or 'of an unknown version'}, this is "
                         f"{package_version()}; rerun with --redo-stale to rescore it, or use another --out")
    meta, frame = read_scores(path)
    cpu = "cpu_seconds" in frame.columns
    return [(int(r["index"]), str(r["arch"]), {p: float(r[p]) for p in meta["proxies"]}, float(r["seconds"]),
             float(r["cpu_seconds"]) if cpu else float("nan")) for r in frame.to_dict("records")]


def score_archs(indices: list[int], dataset: str, images: str | None, proxies: tuple[str, ...], seed: int,
                out_dir: Path, batch: int = 64, progress: bool = True, shard: tuple[int, int] = (0, 1),
                workers: int = 1, executor: str = "local", address: str | None = None,
                redo_stale: bool = False) -> Path:
    """Score ``indices`` into the stores of ``out_dir`` (``scores.csv``; proxies that an existing store
    does not hold go to a ``scores-*.csv`` beside it, see :func:`bench.proxies.store.plan_stores`);
    returns the folder's main store path.

    The cells a store does not hold yet are scored by a grid of runs (:func:`score_specs`) in
    ``out_dir/runs`` through ``run_grid``: resumed run by run, refused (or with ``redo_stale``
    recomputed) when a run was made with other settings, code version or images; computed in this
    process, a local pool (``workers``) or Ray (``executor``, ``address``). The store is then rewritten
    with its cells and those of the finished runs (also after an interrupt, so ``--no-score`` reads a
    partial store). With ``shard=(k, n)`` only every n-th run from the k-th is computed here, so n
    commands can share a folder; a last command without ``--shard`` completes the store. zico gets a
    second minibatch of ``batch`` images, disjoint from the first (its official protocol: two loader
    batches)."""
    from nasrepro.bench.proxies.benchmark import INIT, load_batch
    from nasrepro.bench.proxies.store import plan_stores, write_store
    from nasrepro.bench.runner import run_grid

    settings: dict[str, Any] = {"bench": "nb201", "dataset": dataset, "batch": batch, "seed": seed,
                                "proxies": list(proxies), "init": INIT}
    if "zico" in proxies:
        settings["zico_batches"] = 2
    settings["images"] = load_batch(dataset, images, batch, seed)[2]
    runs_dir = out_dir / "runs"
    for path, group in plan_stores(out_dir, settings):
        stored = _stored(path, redo_stale)
        held = {r[0] for r in stored}
        specs = score_specs([i for i in indices if i not in held], group, images, path.stem)
        try:
            run_grid(specs[shard[0]::shard[1]], runs_dir, workers=workers, progress=progress, redo_stale=redo_stale,
                     executor=executor, address=address)
        finally:
            rows, missing = store_rows(specs, runs_dir)
            if rows:
                write_store(path, group, stored + rows, sources={"runs": str(runs_dir / path.stem)})
        if missing and progress:
            print(f"{path}: {missing} of {len(specs)} scoring runs not finished here")
    return out_dir / "scores.csv"


def nb201_test_accuracy(dataset: str, indices: list[int], table: str | None = None) -> tuple[np.ndarray, str]:
    """200-epoch test accuracy of each index: ``make_nb201(dataset, table).final(arch)['test_acc']``
    when the tabular benchmark is available, else the shared CSV's NATS seed-mean column."""
    import pandas as pd
    from nasrepro.bench.nb201.space import index_to_arch

    try:
        from nasrepro.bench.nb201.benchmark import make_nb201
    except ImportError:
        make_nb201 = None
    if make_nb201 is not None:
        bench = make_nb201(dataset=dataset, table=table) if table else make_nb201(dataset=dataset)
        acc = np.array([float(bench.final(index_to_arch(i))["test_acc"]) for i in indices])
        return acc, f"make_nb201({dataset!r}).final(arch)['test_acc'] (200 epochs)"
    path = Path(table) if table else None
    if path is None:
        from nasrepro.bench.paths import nb201_csv  # NASREPRO_DATA is read (and checked) in bench.paths only

        path = nb201_csv()
        if path is None:
            raise FileNotFoundError("no NB201 accuracy table: pass --table PATH or set NASREPRO_DATA")
    if not path.is_file():
        raise FileNotFoundError(f"NB201 table {path} not found; pass --table PATH")
    frame = pd.read_csv(path, usecols=["index", CSV_TEST_COLUMN[dataset]]).set_index("index")
    return frame.loc[indices, CSV_TEST_COLUMN[dataset]].to_numpy(dtype=float), f"{path.name}:{CSV_TEST_COLUMN[dataset]}"


def parse_votes(items: list[str] | None) -> list[tuple[str, ...]]:
    """``--vote a,b,c`` (repeatable) -> proxy subsets to rank-aggregate; a group (``az_nas``, ``te_nas``) expands."""
    from nasrepro.bench.proxies import resolve_proxies

    out = []
    for item in items or []:
        subset = resolve_proxies(item)
        if len(subset) < 2:
            raise ValueError(f"--vote {item!r}: name at least two proxies, e.g. --vote synflow,zico,meco")
        out.append(subset)
    return out


def correlate(indices: list[int], dataset: str, out_dir: Path, table: str | None = None,
              votes: list[tuple[str, ...]] | None = None, ci_seed: int | None = 0,
              proxies: list[str] | None = None) -> pd.DataFrame:
    """Read the stores of ``out_dir`` (cells scored in all of them), correlate the rows of ``indices`` and
    write correlation.csv|md (with a 95% bootstrap interval of each Spearman when ``ci_seed`` is set)."""
    from nasrepro.bench.provenance import markdown_block, provenance, write_sidecar
    from nasrepro.bench.proxies.correlation import correlation_table
    from nasrepro.bench.proxies.store import read_score_dir

    meta, frame = read_score_dir(out_dir, proxies)
    frame = frame.set_index("index")
    have = [i for i in indices if i in frame.index]
    if len(have) < 2:
        raise ValueError(f"{out_dir / 'scores.csv'} holds {len(have)} of the requested architectures; score them first")
    frame = frame.loc[have]
    acc, acc_label = nb201_test_accuracy(dataset, have, table)
    table_df = correlation_table(frame, acc, meta["proxies"], votes=votes or (), ci_seed=ci_seed)
    table_df.insert(0, "dataset", dataset)
    prov = provenance(sources={"scores": str(out_dir), "accuracy": acc_label})
    atomic_write_text(out_dir / "correlation.csv", table_df.to_csv(index=False, float_format="%.6g"))
    write_sidecar(out_dir / "correlation.csv", prov)
    sec = frame["seconds"].to_numpy(dtype=float)
    lines = [
        f"# Zero-cost proxies vs NB201 accuracy ({dataset})", "",
        f"- architectures: {len(have)} (seed {meta['seed']}); images: {meta['images']}; batch {meta['batch']}",
        f"- accuracy: {acc_label}",
        f"- scoring time per cell (all proxies, fused): mean {sec.mean():.3f} s, median {np.median(sec):.3f} s",
        "- `vote` is the pair-agreement fraction of the majority of synflow, jacob_cov, snip (not a Spearman); "
        "`az_nas` and `vote(a+b+...)` rows are rank aggregations (sum of log(rank/n) over the scored cells, "
        "AZ-NAS's rule), `te_nas` the sum of the dense ranks of te_nas_ntk and te_nas_lr (TE-NAS's rule), "
        "with the Spearman/Kendall of the aggregate",
        "- NaN/inf scores are dropped from each correlation and counted in n_dropped (aggregates rank them lowest)",
        "- spearman_lo/hi: 95% percentile bootstrap over cells (1,000 resamples, aggregates re-ranked)", "",
        table_df.to_markdown(index=False, floatfmt=".4f") if _has_tabulate() else table_df.to_string(index=False),
        markdown_block(prov),
    ]
    atomic_write_text(out_dir / "correlation.md", "\n".join(lines) + "\n")
    return table_df


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def cmd_correlate(args: argparse.Namespace) -> int:
    import torch
    from nasrepro.bench.proxies import resolve_proxies
    from nasrepro.bench.proxies.benchmark import normalise_dataset

    torch.set_num_threads(args.threads)
    if args.bench != "nb201":
        raise ValueError(f"--bench {args.bench!r}: only nb201 is supported")
    if args.batch < 2:
        raise ValueError(f"--batch {args.batch}: need at least 2 images")
    dataset = normalise_dataset(args.dataset)
    proxies = resolve_proxies(args.proxies)
    votes = parse_votes(args.vote)  # bad names fail here, before any scoring
    indices = parse_archs(args.archs, args.seed)
    if args.table and not Path(args.table).exists():
        raise FileNotFoundError(f"--table {args.table} not found")
    from nasrepro.bench.paths import check_out_dir

    out = check_out_dir(args.out)  # a file, "" or an unwritable parent: one line, before any scoring
    shard = parse_shard(args.shard)
    if args.no_score:
        if not (out / "scores.csv").is_file():
            raise FileNotFoundError(f"--no-score: {out / 'scores.csv'} not found; run without --no-score first")
    else:
        score_archs(indices, dataset, args.images, proxies, args.seed, out, batch=args.batch,
                    progress=not args.quiet, shard=shard, redo_stale=args.redo_stale, **_executor_options(args))
    if shard[1] > 1 and not args.no_score:
        print(f"shard {shard[0]}/{shard[1]} done; run the same command without --shard to correlate")
        return 0
    table = correlate(indices, dataset, out, args.table, votes=votes)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out / 'scores.csv'}, {out / 'correlation.csv'}, {out / 'correlation.md'}")
    return 0


def _executor_options(args: argparse.Namespace) -> dict[str, Any]:
    """Where cells are scored: this process by default; ``--workers N`` local processes; Ray with
    ``--executor ray`` (a local instance of ``--workers`` CPUs, default one per core, or ``--address``)."""
    from nasrepro.reproduce.cmd_core import grid_options

    executor = getattr(args, "executor", "local")
    if getattr(args, "workers", None) is None and executor == "local":
        return {"workers": 1, "executor": "local", "address": getattr(args, "address", None)}
    from nasrepro.bench.executors import make_executor

    opts = grid_options(args, os.cpu_count() or 1)
    make_executor(opts["executor"], workers=opts["workers"], address=opts["address"])  # a missing Ray: fail now
    return {"workers": opts["workers"], "executor": opts["executor"], "address": opts["address"]}


def add_correlate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", default="nb201", help="benchmark (nb201)")
    p.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or imagenet16-120")
    p.add_argument("--table", default=None, help="NB201 accuracy table (default: the tabular benchmark's own)")
    p.add_argument("--images", default=None,
                   help="an .npz shaped like shared/data/images/* or a torchvision root, or 'mnist' (default: shared "
                        "files when NASREPRO_DATA is set, else MNIST-5k as a stand-in)")
    p.add_argument("--archs", default="1000", help="N (seeded random sample), 'all', or a FILE of indices")
    p.add_argument("--proxies", default="all", help="'all' or a comma-separated list")
    p.add_argument("--seed", type=int, default=0, help="seed of the arch sample, the minibatch and the inits")
    p.add_argument("--batch", type=int, default=64, help="minibatch size (reference: 64)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-score", action="store_true",
                   help="score nothing: correlate the requested cells already in DIR/scores.csv (a partial run)")
    p.add_argument("--vote", action="append", default=None, metavar="A,B,...",
                   help="rank-aggregate these proxies (AZ-NAS's sum of log(rank/n)) and correlate the aggregate, "
                        "e.g. --vote synflow,zico,meco; repeatable; the notebook's synflow/jacob_cov/snip vote stays")
    p.add_argument("--shard", default=None, help="K/N: score only every N-th architecture from the K-th "
                   "(N workers side by side on one store); correlation is left to a run without --shard")
    from nasrepro.reproduce.cmd_core import add_grid_arguments

    add_grid_arguments(p, "scoring processes (default: this process; with --executor ray one per core)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("correlate", help="zero-cost proxy scores and rank correlation on NB201",
                              description=__doc__.splitlines()[0] if __doc__ else None)
    add_correlate_arguments(p)
    p.add_argument("--out", required=True, help="output folder (runs/ and scores.csv; resumed when present)")
    p.set_defaults(func=cmd_correlate)
