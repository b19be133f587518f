"""``nasrepro correlate``: score NB201 cells with zero-cost proxies on one real minibatch, then rank-
correlate each proxy with the 200-epoch test accuracy (and the three-proxy vote).

Outputs in ``--out DIR``: ``scores.csv`` (the resumable score store, see
:mod:`bench.proxies.store`), ``correlation.csv`` and ``correlation.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from nasrepro.bench.io import atomic_write_text

if TYPE_CHECKING:  # pandas loads inside the functions that use it: `nasrepro --help` stays light
    import pandas as pd

NB201_SIZE = 15625
DATASETS = ("cifar10", "cifar100", "imagenet16-120")
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}
# 200-epoch test accuracy columns of shared/data/nb201/nb201_accuracy.csv (fallback reader)
CSV_TEST_COLUMN = {"cifar10": "cifar10_test_200", "cifar100": "cifar100_test_200", "imagenet16-120": "imagenet16_test_200"}


def normalise_dataset(name: str) -> str:
    key = name.lower().replace("_", "-")
    key = {"imagenet16": "imagenet16-120", "imagenet": "imagenet16-120"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return key


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


def load_batch(dataset: str, images: str | None, batch: int, seed: int,
               more: int = 0) -> tuple[Any, Any, str] | tuple[Any, Any, str, list[tuple[Any, Any]]]:
    """``(inputs, targets, provenance)``: one random minibatch of the training split. With ``more=k``
    also a list of k further minibatches, disjoint from it and from each other, drawn by the same
    generator after it (the first minibatch is unchanged by asking for more)."""
    from dataclasses import replace

    from nasrepro.bench.data import load_source, minibatch, mnist5k

    n_classes = NUM_CLASSES[dataset]
    if images == "mnist":  # the offline stand-in, asked for by name
        src = mnist5k()
        src = replace(src, num_classes=n_classes, provenance=f"{src.provenance} (used for {dataset})")
    else:
        src = load_source(dataset, images, split="train")
    if src.num_classes > n_classes:
        raise ValueError(f"{src.name} has {src.num_classes} classes but the {dataset} network has {n_classes} outputs")
    rng = np.random.default_rng(seed)
    x, y = minibatch(src, batch, rng)
    if x.shape[1] != 3:
        raise ValueError(f"images must have 3 channels for the NB201 network, got shape {tuple(x.shape[1:])}")
    if not more:
        return x, y, src.provenance
    # minibatch() drew rng.choice(N, batch); redo that draw on a twin generator to know which images
    # it took, then continue with the caller's generator on the images left
    taken = np.random.default_rng(seed).choice(len(src), size=batch, replace=False)
    left = np.setdiff1d(np.arange(len(src)), taken)
    if len(left) < more * batch:
        raise ValueError(f"{src.name} has {len(src)} images, too few for {more + 1} disjoint batches of {batch}")
    extra_idx = rng.choice(left, size=more * batch, replace=False)
    extra = [(src.x[extra_idx[k * batch:(k + 1) * batch]], src.y[extra_idx[k * batch:(k + 1) * batch]])
             for k in range(more)]
    return x, y, src.provenance, extra


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


def score_archs(indices: list[int], dataset: str, images: str | None, proxies: tuple[str, ...], seed: int,
                out_dir: Path, batch: int = 64, progress: bool = True, shard: tuple[int, int] = (0, 1),
                workers: int = 1, executor: str = "local", address: str | None = None) -> Path:
    """Score ``indices`` into the stores of ``out_dir`` (``scores.csv``, resumed; proxies that an existing
    store does not hold go to a ``scores-*.csv`` beside it, see :func:`bench.proxies.store.plan_stores`);
    returns the folder's main store path. zico gets a second minibatch of ``batch`` images, disjoint
    from the first (its official protocol: two loader batches). With ``shard=(k, n)`` only
    ``indices[k::n]`` are scored, so n worker processes can append to the same stores side by side
    (start the first one before the others: it writes the header). ``workers``, ``executor`` and
    ``address`` choose where the cells are scored (bench.executors.make_executor: this process, a
    local pool or a Ray cluster), in chunks; this process appends every row as its chunk arrives."""
    from nasrepro.bench.proxies.store import plan_stores

    settings = {"bench": "nb201", "dataset": dataset, "batch": batch, "seed": seed,
                "proxies": list(proxies), "init": "pytorch-default, seed=SeedSequence([seed, index])"}
    if "zico" in proxies:
        settings["zico_batches"] = 2
    loaded = load_batch(dataset, images, batch, seed, more=1 if "zico" in proxies else 0)
    x, y, provenance = loaded[:3]
    extra = loaded[3] if len(loaded) > 3 else None
    settings["images"] = provenance
    for path, group in plan_stores(out_dir, settings):
        batches = extra if "zico" in group["proxies"] else None
        _score_into(path, group, indices, dataset, seed, (x, y), batches, progress, shard,
                    {"workers": workers, "name": executor, "address": address})
    return out_dir / "scores.csv"


@dataclass(frozen=True)
class ScoringJob:
    """What a worker needs to score cells (no file is read there): ``job(chunk)`` scores a tuple of
    NB201 indices and returns ``(index, arch, scores, seconds, cpu_seconds)`` rows."""

    dataset: str
    seed: int
    proxies: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    extra: tuple[tuple[np.ndarray, np.ndarray], ...] | None = None

    def __call__(self, chunk: tuple[int, ...]) -> list[tuple[int, str, dict[str, float], float, float]]:
        import torch
        from nasrepro.bench.nb201.network import build_nb201_net
        from nasrepro.bench.nb201.space import index_to_arch, to_str
        from nasrepro.bench.proxies import arch_seed, score_all, seeded_net

        x, y = torch.from_numpy(self.x), torch.from_numpy(self.y)
        extra = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in self.extra] if self.extra else None
        rows = []
        for idx in chunk:
            arch = index_to_arch(idx)
            net = seeded_net(lambda arch=arch: build_nb201_net(arch, num_classes=NUM_CLASSES[self.dataset]),
                             arch_seed(self.seed, idx))
            t0, c0 = time.perf_counter(), time.process_time()
            scores = score_all(net, x, y, self.proxies, extra_batches=extra)
            rows.append((idx, to_str(arch), scores, time.perf_counter() - t0, time.process_time() - c0))
            del net
        return rows


def _score_into(path: Path, settings: dict[str, Any], indices: list[int], dataset: str, seed: int,
                batch: tuple[Any, Any], extra: list | None, progress: bool, shard: tuple[int, int],
                executor: dict[str, Any] | None = None) -> None:
    from nasrepro.bench.executors import chunk_size, chunked, make_executor
    from nasrepro.bench.proxies.store import ScoreStore
    from tqdm import tqdm

    executor = executor or {}
    workers = int(executor.get("workers") or 1)
    job = ScoringJob(dataset, seed, tuple(settings["proxies"]), np.asarray(batch[0]), np.asarray(batch[1]),
                     tuple((np.asarray(a), np.asarray(b)) for a, b in extra) if extra else None)
    ex = make_executor(executor.get("name", "local"), workers=workers, address=executor.get("address"))
    with ScoreStore(path, settings) as store:
        mine = indices[shard[0]::shard[1]]
        todo = [i for i in mine if i not in store.done]
        bar = tqdm(desc=f"scoring {dataset} ({path.name})", unit="cell", disable=not progress,
                   initial=len(mine) - len(todo), total=len(mine))
        # one code path for this process, a local pool and Ray: chunks of cells through the executor,
        # rows appended (and flushed) here as each chunk arrives
        with ex:
            for _, rows in ex.imap_unordered(job, chunked(todo, chunk_size(len(todo), workers))):
                for idx, arch, scores, seconds, cpu_seconds in rows:
                    store.append(idx, arch, scores, seconds, cpu_seconds)
                bar.update(len(rows))
        bar.close()


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
                    progress=not args.quiet, shard=shard, **_executor_options(args))
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
    p.add_argument("--workers", type=int, default=None,
                   help="scoring processes (default: this process; with --executor ray one per core)")
    p.add_argument("--executor", default="local", choices=("local", "ray"),
                   help="local processes (default) or a Ray cluster (pip install -e '.[ray]'); cells go in chunks")
    p.add_argument("--address", default=None, help="Ray cluster address (with --executor ray; default: a local one)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("correlate", help="zero-cost proxy scores and rank correlation on NB201",
                              description=__doc__.splitlines()[0] if __doc__ else None)
    add_correlate_arguments(p)
    p.add_argument("--out", required=True, help="output folder (scores.csv is resumed when present)")
    p.set_defaults(func=cmd_correlate)
