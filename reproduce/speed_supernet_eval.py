"""Subnet evaluation throughput (images per second, BN recalibration included), written to ``results/``.

``python -m bench.supernet.throughput [--configs imagenet,cifar10-small,mnist-small] [--device cpu]``

- ``imagenet``: the real ImageNet images of ``$NASREPRO_DATA/images/imagenet/val100`` (100 images) at
  224 px, with both preprocessings (``standard``: torchvision resize/crop + mean/std normalisation;
  ``spos``: the official OpenCV-style resize 256, centre crop 224, BGR 0-255): the training view
  (augmented, fixed seeds) for BN recalibration and the evaluation view for validation, decoded once
  and held in memory (decoding time reported separately). The supernet is randomly initialised
  (the official checkpoint is not shipped): accuracies are meaningless, speed is not.
- small configs: their own data (``bench.supernet.benchmark.default_data``) and default batch counts.

Each row evaluates ``n_archs`` random valid subnets; ``images_per_s`` = (recal + val images) /
(measured seconds of BN recalibration + validation), the same seconds the benchmark reports as cost.
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
from bench.supernet.configs import get_config
from bench.supernet.evaluator import SubnetEvaluator
from bench.supernet.model import ShuffleNetV2OneShot
from bench.supernet.space import SupernetSpace


def _imagenet_val100(preprocessing: str) -> tuple[dict[str, Any], float]:
    from bench.supernet.data import image_folder, val100_root

    root = val100_root()
    t0 = time.perf_counter()
    train = image_folder(root, preprocessing, train=True)
    evalv = image_folder(root, preprocessing, train=False)
    xr = torch.stack([train[(i, 1000 + i)][0] for i in range(len(train))])
    xv = torch.stack([evalv[i][0] for i in range(len(evalv))])
    y = torch.as_tensor(evalv.labels)
    return {"recal": (xr, y), "val": (xv, y)}, time.perf_counter() - t0


def measure(
    config: str, data: dict[str, Any], n_archs: int, bn_batch: int, val_batch: int, device: str
) -> dict:
    cfg = get_config(config)
    net = ShuffleNetV2OneShot(cfg, seed=0)
    ev = SubnetEvaluator(
        net,
        data["recal"],
        data["val"],
        bn_batches=10**9,
        bn_batch_size=bn_batch,
        val_batch_size=val_batch,
        device=device,
    )
    n_recal = sum(int(x.shape[0]) for x, _ in ev.recal)
    n_val = sum(int(x.shape[0]) for x, _ in ev.sets["val"])
    space = SupernetSpace(cfg)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(n_archs)]
    ev.evaluate(archs[0])  # warm-up (allocator, kernels), not counted
    ev.ledger = type(ev.ledger)(energy_source=ev.ledger.energy_source)
    for a in archs:
        ev.evaluate(a)
    led = ev.ledger.as_dict()
    return {
        "config": cfg.name,
        "input_px": cfg.input_size,
        "device": device,
        "subnets": n_archs,
        "recal_images": n_recal,
        "val_images": n_val,
        "mean_flops_m": float(np.mean([space.flops_m(a) for a in archs])),
        "s_per_subnet": led["total_s"] / n_archs,
        "bn_recal_s_per_subnet": led["bn_recal_s"] / n_archs,
        "val_s_per_subnet": led["forward_s"] / n_archs,
        "images_per_s": n_archs * (n_recal + n_val) / led["total_s"],
        "val_images_per_s": n_archs * n_val / led["forward_s"],
        "energy_j": led["energy_j"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="imagenet,cifar10-small,mnist-small")
    p.add_argument("--device", default="cpu")
    p.add_argument("--n-archs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="folder (default: results/)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
        if name == "imagenet":
            for prep in ("standard", "spos"):
                data, load_s = _imagenet_val100(prep)
                row = measure(name, data, args.n_archs, 50, 50, args.device)
                rows.append({**row, "data": f"val100 ({prep})", "decode_s": load_s})
                print(rows[-1])
        else:
            from bench.supernet.benchmark import default_data

            cfg = get_config(name)
            d = default_data(name)
            data = {k: [(x, y) for x, y in d[k]] for k in ("recal", "val")}
            row = measure(name, data, args.n_archs, cfg.bn_recal_batch_size, cfg.val_batch_size, args.device)
            rows.append({**row, "data": d["describe"]["data"], "decode_s": float("nan")})
            print(rows[-1])
    df = pd.DataFrame(rows)
    out = Path(args.out) if args.out else results_dir()
    atomic_write_text(out / "supernet_eval_throughput.csv", df.to_csv(index=False))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    md = [
        "# Supernet subnet evaluation throughput",
        "",
        "BN recalibration (cumulative average) + validation per subnet, measured wall seconds; "
        "randomly initialised supernet (speed only). Command: `python -m bench.supernet.throughput "
        f"--configs {args.configs} --device {args.device} --threads {args.threads}`.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), load average {load:.1f} at the end (shared machine: timings are noisy).",
        "",
        df.to_markdown(index=False, floatfmt=".3g"),
        "",
    ]
    atomic_write_text(out / "supernet_eval_throughput.md", "\n".join(md))
    print(f"wrote {out / 'supernet_eval_throughput.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
