"""Benchmark: subnet evaluation throughput with the ImageNet data pipeline in the loop.

``python -m bench.bench_supernet_eval [--n-archs 3] [--batch 50] [--workers 0] [--out results/]``

On the 100 real ImageNet images of ``$NASREPRO_DATA/images/imagenet/val100`` at 224 px, for both
preprocessings (``standard`` torchvision; ``spos`` = the official OpenCV-style resize, BGR 0-255),
with a randomly initialised ``imagenet`` supernet (speed only; accuracies are meaningless):

- ``pipeline``: JPEG decode + preprocessing alone (images/s), training view (BN recalibration) and
  evaluation view;
- ``stream``: one subnet evaluation = BN recalibration on the 100 images' training view + top-1/top-5
  on their evaluation view, every batch read from disk through ``DataLoader`` (as an ImageNet search
  does with preloading off); images/s = (recal + val images) / wall seconds, BN recalibration
  included, decoding included;
- ``in-memory``: the same evaluations on batches decoded once beforehand (model time only; the
  evaluator's ledger seconds, as the ``supernet`` benchmark reports them as cost).

``bench/supernet/throughput.py`` measures the in-memory case for every config; this file adds the
cost of the data pipeline, which dominates on a CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from bench.io import atomic_write_text
from bench.paths import results_dir
from bench.supernet.data import PREPROCESSINGS, eval_loader, image_folder, train_loader, val100_root
from bench.supernet.evaluator import SubnetEvaluator
from bench.supernet.model import ShuffleNetV2OneShot
from bench.supernet.space import SupernetSpace


def _time(fn: Any) -> tuple[Any, float, float]:
    """Result, wall seconds, CPU seconds of this process (robust to other jobs on a shared machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def measure(
    preprocessing: str, n_archs: int, batch: int, workers: int, seed: int = 0
) -> list[dict[str, Any]]:
    root = val100_root()
    train = image_folder(root, preprocessing, train=True)
    val = image_folder(root, preprocessing)
    n = len(val)
    recal = train_loader(train, batch, seed, n_steps=n // batch, workers=workers)
    val_dl = eval_loader(val, batch, workers=workers)
    rows: list[dict[str, Any]] = []
    recal_b, s_tr, c_tr = _time(lambda: [(x, y) for x, y in recal])
    val_b, s_ev, c_ev = _time(lambda: [(x, y) for x, y in val_dl])
    n_recal = sum(len(y) for _, y in recal_b)
    base = {"preprocessing": preprocessing, "input_px": 224, "batch": batch, "workers": workers}
    rows.append(
        {
            **base,
            "mode": "pipeline (train view)",
            "images": n_recal,
            "seconds": s_tr,
            "images_per_s": n_recal / s_tr,
            "cpu_s": c_tr,
            "images_per_cpu_s": n_recal / c_tr,
        }
    )
    rows.append(
        {
            **base,
            "mode": "pipeline (eval view)",
            "images": n,
            "seconds": s_ev,
            "images_per_s": n / s_ev,
            "cpu_s": c_ev,
            "images_per_cpu_s": n / c_ev,
        }
    )

    net = ShuffleNetV2OneShot("imagenet", seed=seed)
    space = SupernetSpace("imagenet")
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n_archs)]
    flops = float(np.mean([space.flops_m(a) for a in archs]))
    for mode, rdata, vdata in (("stream", recal, val_dl), ("in-memory", recal_b, val_b)):
        ev = SubnetEvaluator(net, rdata, vdata, bn_batches=10**6, val_batch_size=batch)
        ev.evaluate(archs[0])  # warm-up, not counted
        ev.ledger = type(ev.ledger)()
        _, wall, cpu = _time(lambda ev=ev: [ev.evaluate(a) for a in archs])
        seconds = wall if mode == "stream" else ev.ledger.total_s
        images = len(archs) * (n_recal + n)
        rows.append(
            {
                **base,
                "mode": f"subnet eval, {mode}",
                "images": images,
                "seconds": seconds,
                "images_per_s": images / seconds,
                "cpu_s": cpu,
                "images_per_cpu_s": images / cpu,
                "subnets": len(archs),
                "mean_flops_m": flops,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-archs", type=int, default=3)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="folder (default results/)")
    args = p.parse_args(argv)
    if args.n_archs < 1 or args.batch < 1:
        raise ValueError("--n-archs and --batch must be positive")
    torch.set_num_threads(args.threads)
    rows = [r for prep in PREPROCESSINGS for r in measure(prep, args.n_archs, args.batch, args.workers)]
    df = pd.DataFrame(rows)
    out = Path(args.out) if args.out else results_dir()
    atomic_write_text(out / "bench_supernet_eval.csv", df.to_csv(index=False))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cmd = (
        f"python -m bench.bench_supernet_eval --n-archs {args.n_archs} --batch {args.batch} "
        f"--workers {args.workers} --threads {args.threads}"
    )
    md = [
        "# Subnet evaluation throughput with the ImageNet data pipeline (100 real images, 224 px)",
        "",
        f"Command: `{cmd}` (NASREPRO_DATA=shared/data). Randomly initialised `imagenet` supernet; "
        "BN recalibration (cumulative average over the 100 images' training view) + validation on their "
        "evaluation view, per subnet. `stream` reads and preprocesses every batch from disk on each "
        "evaluation; `in-memory` uses batches decoded once (model time only). `seconds` are wall seconds, "
        "`cpu_s` this process's CPU seconds (1 thread: CPU-bound work is about images/cpu_s when the machine "
        "is free). See the module docstring.",
        "",
        f"Machine: {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), "
        f"{os.cpu_count()} CPUs shared with other jobs, load average {load:.1f} at the end: timings are noisy.",
        "",
        df.to_markdown(index=False, floatfmt=".3g"),
        "",
    ]
    atomic_write_text(out / "bench_supernet_eval.md", "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
