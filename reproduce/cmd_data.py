"""``nasrepro data convert SRC DST``: an NB201 table (official file, CSV, ...) -> compact ``.npz``.

The official NB201 v1_1 file needs ~28 GB of RAM through its API; convert it once (here or on
a larger machine) and every later run loads the ``.npz`` in milliseconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="data tools: convert NB201 tables to the compact format")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    conv = sub.add_parser(
        "convert",
        help="official NB201 .pth / NATS-tss file or folder (or a CSV) -> compact .npz",
        description="Convert an NB201 table to nasrepro's compact .npz (one file, loads in milliseconds). "
        "SRC: NAS-Bench-201-v1_0-e61699.pth, NAS-Bench-201-v1_1-096897.pth, "
        "NATS-tss-v1_0-3ffb9.pickle.pbz2, the NATS-tss-v1_0-3ffb9-simple folder, or the shared CSV.",
    )
    conv.add_argument("src", help="official file or folder, or an NB201 CSV")
    conv.add_argument("dst", help="output .npz")
    conv.add_argument(
        "--datasets",
        nargs="+",
        default=None,
        metavar="DS",
        help="keep only these data sets (cifar10 cifar100 imagenet16-120); default: all in SRC",
    )
    conv.add_argument(
        "--via-api",
        action="store_true",
        help="read through the official API (nas_201_api / nats_bench) instead of the direct reader; "
        "same numbers, much more memory",
    )
    conv.add_argument(
        "--allow-partial",
        action="store_true",
        help="accept a source with fewer than the 15,625 cells (synthetic or subset files; such a table "
        "loads only where partial tables are allowed, i.e. in tests)",
    )
    conv.add_argument("--quiet", action="store_true", help="no progress bar")
    conv.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    from nasrepro.bench.nb201 import official, tables

    src, dst = Path(args.src).expanduser(), Path(args.dst).expanduser()
    if dst.suffix != ".npz":
        raise ValueError(f"DST must be a .npz file, got {dst}")
    if not src.exists():
        raise FileNotFoundError(f"{src} not found; give an official NB201 .pth, a NATS-tss file/folder or a CSV")
    for d in args.datasets or []:
        tables.normalize_dataset(d)  # a typo fails now, before a long read
    t0 = time.perf_counter()
    try:
        kind = official.detect_kind(src)
    except ValueError:
        kind = None
    # every loader checks the cells and values (bench.nb201.tables.validate_table): a bad value
    # fails here, before it is baked into the .npz
    if kind is not None:
        table = official.load_official_table(src, datasets=args.datasets, via_api=args.via_api,
                                             progress=not args.quiet, allow_partial=args.allow_partial or None)
    else:
        if args.via_api:
            raise ValueError("--via-api applies to official .pth / NATS-tss files only")
        table = tables.load_table(src, allow_partial=args.allow_partial or None)
        if args.datasets:
            table = _select(table, args.datasets)
    table.save_compact(dst)
    dt = time.perf_counter() - t0
    size_mb = dst.stat().st_size / 2**20
    print(f"wrote {dst} ({size_mb:.1f} MB): {len(table)} cells, data sets {', '.join(table.datasets)}, "
          f"kind {table.kind}, in {dt:.1f} s")
    return 0


def _select(table, datasets: list[str]):  # type: ignore[no-untyped-def]
    """A copy of ``table`` with only ``datasets`` (user-facing names)."""
    from nasrepro.bench.nb201.tables import NB201Table, normalize_dataset

    names = [normalize_dataset(d) for d in datasets]
    pos = [table._dataset_pos(d) for d in names]
    seeds = table.val_seeds_12[:, pos] if table.val_seeds_12 is not None else None
    return NB201Table(table.index, table.data[:, pos], tuple(names), table.source, table.kind, seeds,
                      dict(table.notes))
