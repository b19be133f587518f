"""``nasrepro speed proxies``: seconds per NB201 cell for all zero-cost proxies, fused (:func:`score_all`)
against one proxy at a time (:func:`score_each`, the reference code's way), with a check that both
give the same scores.

    nasrepro speed proxies [--proxies LIST] [--cells 5] [--seed 0] [--batch 64] [--images PATH] [--out results/speed]

The default proxies are the six measures of the zero-cost reference code (``--proxies all`` for every
registered one: TE-NAS's two then dominate the time).

Writes ``proxies.md`` and ``proxies.csv``. Times are wall clock and process CPU time on
one torch thread; the two ways alternate cell by cell (order swapped every cell) so that load from
other processes on a shared machine hits both alike. The reference code also deep-copies the
network for every measure; ``score_each`` does not, so the ratio here is, if anything, conservative.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and torch load when the measurement runs, not when the parser is built
    import pandas as pd

NAME = "proxies"
REFERENCE_SIX = "grad_norm,snip,grasp,fisher,synflow,jacob_cov"
DESCRIPTION = "zero-cost proxies on NB201 cells: all fused vs one at a time (seconds per cell, same scores)"


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def _same(a: float, b: float, rtol: float = 1e-5) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-12


def run_benchmark(cells: int, seed: int, batch: int, images: str | None, dataset: str = "cifar10",
                  proxies: tuple[str, ...] | None = None) -> tuple[pd.DataFrame, str]:
    import pandas as pd
    import torch
    from nasrepro.bench.nb201.network import build_nb201_net
    from nasrepro.bench.nb201.space import index_to_arch, to_str
    from nasrepro.bench.proxies import arch_seed, resolve_proxies, score_all, score_each, seeded_net
    from nasrepro.bench.proxies.benchmark import NUM_CLASSES, load_batch
    from nasrepro.reproduce.cmd_correlate import parse_archs

    torch.set_num_threads(1)
    x, y, provenance = load_batch(dataset, images, batch, seed)
    proxies = resolve_proxies(REFERENCE_SIX) if proxies is None else proxies
    rows = []
    # warm-up (allocator, kernels) outside the measurement
    warm = seeded_net(lambda: build_nb201_net(index_to_arch(0), num_classes=NUM_CLASSES[dataset]), 0)
    score_all(warm, x, y, proxies)
    for k, idx in enumerate(parse_archs(str(cells), seed)):
        arch = index_to_arch(idx)
        net = seeded_net(lambda arch=arch: build_nb201_net(arch, num_classes=NUM_CLASSES[dataset]), arch_seed(seed, idx))
        order = [("fused", score_all), ("each", score_each)]
        res = {}
        for name, fn in (order if k % 2 == 0 else order[::-1]):
            res[name] = _timed(fn, net, x, y, proxies)
        fused, each = res["fused"][0], res["each"][0]
        mismatch = [p for p in proxies if not _same(fused[p], each[p])]
        rows.append({"index": idx, "arch": to_str(arch),
                     "fused_wall_s": res["fused"][1], "each_wall_s": res["each"][1],
                     "fused_cpu_s": res["fused"][2], "each_cpu_s": res["each"][2],
                     "same_scores": not mismatch, "mismatch": ",".join(mismatch)})
    return pd.DataFrame(rows), provenance


def report(frame: pd.DataFrame, provenance: str, batch: int, proxies: tuple[str, ...]) -> str:
    tot = frame[["fused_wall_s", "each_wall_s", "fused_cpu_s", "each_cpu_s"]].sum()
    lines = [
        "# Zero-cost scoring benchmark: fused vs one proxy at a time", "",
        f"- {len(frame)} random NB201 cells (CIFAR-10 head), batch {batch}; images: {provenance}",
        f"- proxies: {', '.join(proxies)}",
        "- one torch thread; the two ways alternate per cell; CPU = process time (robust to a shared machine)",
        f"- same scores (rel. tol. 1e-5) on every cell: **{bool(frame['same_scores'].all())}**", "",
        "| way | wall s / cell | CPU s / cell |", "|---|---|---|",
        f"| one at a time (reference) | {tot['each_wall_s'] / len(frame):.3f} | {tot['each_cpu_s'] / len(frame):.3f} |",
        f"| fused | {tot['fused_wall_s'] / len(frame):.3f} | {tot['fused_cpu_s'] / len(frame):.3f} |",
        f"| speed ratio (reference / fused) | {tot['each_wall_s'] / tot['fused_wall_s']:.2f}x | "
        f"{tot['each_cpu_s'] / tot['fused_cpu_s']:.2f}x |", "",
        "Per cell:", "",
        frame.drop(columns=["arch"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"), "",
    ]
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--proxies", default=REFERENCE_SIX,
                   help="comma-separated proxies, or 'all' (default: the six of the zero-cost reference code)")
    p.add_argument("--cells", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--images", default=None, help="npz / torchvision root / 'mnist' (default: shared CIFAR-10 if NASREPRO_DATA is set)")
    p.add_argument("--out", default=None, help="output folder (default results/speed)")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from nasrepro.bench.proxies import resolve_proxies
    from nasrepro.reproduce._speed import speed_dir, write_outputs

    if args.cells < 1:
        raise ValueError(f"--cells must be >= 1, got {args.cells}")
    try:
        proxies = resolve_proxies(args.proxies)
    except ValueError as err:  # the registry's one-line error for an unknown name, tied to the flag
        raise ValueError(f"--proxies: {err}") from None
    with np.errstate(all="ignore"):
        frame, images = run_benchmark(args.cells, args.seed, args.batch, args.images, proxies=proxies)
    text = report(frame, images, args.batch, proxies)
    rows = frame.to_dict("records")
    path = write_outputs(NAME, speed_dir(args.out), rows, text.splitlines(), sources={"images": images},
                         extra={"proxies": ",".join(proxies)})
    print(text)
    print(f"wrote {path}")
    return 0 if bool(frame["same_scores"].all()) else 1
