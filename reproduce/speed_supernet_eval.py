"""``nasrepro speed supernet-eval``: subnet evaluation throughput (BN recalibration + validation).

    nasrepro speed supernet-eval [--configs imagenet,cifar10-small,mnist-small] [--device cpu]
                                 [--stream] [--n-archs 3] [--out results/speed]

One module for what ``bench/supernet/throughput.py`` and ``bench/bench_supernet_eval.py`` measured:

- ``in-memory`` (every config): ``n_archs`` random valid subnets evaluated on batches held in memory;
  ``images_per_s`` = (recal + val images) / (measured seconds of BN recalibration + validation),
  the seconds the ``supernet`` benchmark reports as cost. ``imagenet`` uses the 100 real ImageNet
  images of ``$NASREPRO_DATA/images/imagenet/val100`` at 224 px with both preprocessings
  (``standard``: torchvision resize/crop + mean/std; ``spos``: the official OpenCV-style resize 256,
  centre crop 224, BGR 0-255; decoding time reported separately as ``decode_s``); the small configs
  use their own data (``bench.supernet.benchmark.default_data``) and default batch sizes.
- ``--stream`` (``imagenet`` only) adds the data pipeline: ``pipeline`` rows time JPEG decoding +
  preprocessing alone (training view for recalibration, evaluation view for validation), and
  ``stream`` rows evaluate subnets reading every batch from disk through ``DataLoader`` on each
  evaluation (as an ImageNet search does with preloading off); seconds are wall seconds.

The supernet is randomly initialised (the official checkpoint is not shipped): accuracies are
meaningless, speed is not. CPU seconds (this process) stand beside wall seconds in every row.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

NAME = "supernet-eval"
DESCRIPTION = "supernet subnet evaluation throughput per config (in memory; ImageNet with --stream: from disk)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configs", default="imagenet,cifar10-small,mnist-small")
    p.add_argument("--device", default="cpu")
    p.add_argument("--n-archs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--stream", action="store_true",
                   help="imagenet: also time the data pipeline and evaluations streamed from disk")
    p.add_argument("--batch", type=int, default=50, help="imagenet batch size (recalibration and validation)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the --stream rows")
    p.add_argument("--out", default=None, help="output folder (default results/speed)")


def _timed(fn: Any) -> tuple[Any, float, float]:
    """Result, wall seconds, CPU seconds of this process."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def _imagenet_val100(preprocessing: str) -> tuple[dict[str, Any], float]:
    import torch
    from nasrepro.bench.supernet.data import image_folder, val100_root

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
) -> dict[str, Any]:
    """In-memory evaluation of ``n_archs`` random subnets of ``config`` (a warm-up one not counted)."""
    import numpy as np
    from nasrepro.bench.supernet.configs import get_config
    from nasrepro.bench.supernet.evaluator import SubnetEvaluator
    from nasrepro.bench.supernet.model import ShuffleNetV2OneShot
    from nasrepro.bench.supernet.space import SupernetSpace

    cfg = get_config(config)
    net = ShuffleNetV2OneShot(cfg, seed=0)
    ev = SubnetEvaluator(net, data["recal"], data["val"], bn_batches=10**9, bn_batch_size=bn_batch,
                         val_batch_size=val_batch, device=device)
    n_recal = sum(int(x.shape[0]) for x, _ in ev.recal)
    n_val = sum(int(x.shape[0]) for x, _ in ev.sets["val"])
    space = SupernetSpace(cfg)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(n_archs)]
    ev.evaluate(archs[0])  # warm-up (allocator, kernels), not counted
    ev.ledger = type(ev.ledger)(energy_source=ev.ledger.energy_source)
    _, wall, cpu = _timed(lambda: [ev.evaluate(a) for a in archs])
    led = ev.ledger.as_dict()
    images = n_archs * (n_recal + n_val)
    return {
        "config": cfg.name, "mode": "in-memory", "input_px": cfg.input_size, "device": device,
        "subnets": n_archs, "recal_images": n_recal, "val_images": n_val,
        "mean_flops_m": float(np.mean([space.flops_m(a) for a in archs])),
        "seconds": led["total_s"], "cpu_s": cpu, "wall_s": wall,
        "s_per_subnet": led["total_s"] / n_archs,
        "bn_recal_s_per_subnet": led["bn_recal_s"] / n_archs, "val_s_per_subnet": led["forward_s"] / n_archs,
        "images_per_s": images / led["total_s"], "images_per_cpu_s": images / max(cpu, 1e-9),
        "val_images_per_s": n_archs * n_val / led["forward_s"], "energy_j": led["energy_j"],
    }


def stream_rows(preprocessing: str, n_archs: int, batch: int, workers: int, seed: int = 0) -> list[dict[str, Any]]:
    """ImageNet val100 through ``DataLoader``: decoding alone, then subnet evaluations streamed from disk."""
    import numpy as np
    from nasrepro.bench.supernet.data import eval_loader, image_folder, train_loader, val100_root
    from nasrepro.bench.supernet.evaluator import SubnetEvaluator
    from nasrepro.bench.supernet.model import ShuffleNetV2OneShot
    from nasrepro.bench.supernet.space import SupernetSpace

    root = val100_root()
    train = image_folder(root, preprocessing, train=True)
    val = image_folder(root, preprocessing)
    n = len(val)
    recal = train_loader(train, batch, seed, n_steps=n // batch, workers=workers)
    val_dl = eval_loader(val, batch, workers=workers)
    base = {"config": "imagenet", "data": f"val100 ({preprocessing})", "input_px": 224, "device": "cpu",
            "batch": batch, "workers": workers}
    rows: list[dict[str, Any]] = []
    recal_b, s_tr, c_tr = _timed(lambda: [(x, y) for x, y in recal])
    n_recal = sum(len(y) for _, y in recal_b)
    _, s_ev, c_ev = _timed(lambda: [(x, y) for x, y in val_dl])
    for mode, images, s, c in (("pipeline (train view)", n_recal, s_tr, c_tr), ("pipeline (eval view)", n, s_ev, c_ev)):
        rows.append({**base, "mode": mode, "images": images, "seconds": s, "wall_s": s, "cpu_s": c,
                     "images_per_s": images / s, "images_per_cpu_s": images / max(c, 1e-9)})
    net = ShuffleNetV2OneShot("imagenet", seed=seed)
    space = SupernetSpace("imagenet")
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n_archs)]
    ev = SubnetEvaluator(net, recal, val_dl, bn_batches=10**6, val_batch_size=batch)
    ev.evaluate(archs[0])  # warm-up, not counted
    _, wall, cpu = _timed(lambda: [ev.evaluate(a) for a in archs])
    images = len(archs) * (n_recal + n)
    rows.append({**base, "mode": "stream", "subnets": n_archs, "recal_images": n_recal, "val_images": n,
                 "images": images, "seconds": wall, "wall_s": wall, "cpu_s": cpu, "s_per_subnet": wall / n_archs,
                 "images_per_s": images / wall, "images_per_cpu_s": images / max(cpu, 1e-9),
                 "mean_flops_m": float(np.mean([space.flops_m(a) for a in archs]))})
    return rows


def run(args: argparse.Namespace) -> int:
    import os
    import platform

    import torch
    from nasrepro.reproduce._speed import machine_line, md_table, speed_dir, write_outputs

    if args.n_archs < 1 or args.batch < 1:
        raise ValueError("--n-archs and --batch must be positive")
    torch.set_num_threads(args.threads)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    rows: list[dict[str, Any]] = []
    for name in names:
        if name == "imagenet":
            for prep in ("standard", "spos"):
                data, load_s = _imagenet_val100(prep)
                row = measure(name, data, args.n_archs, args.batch, args.batch, args.device)
                rows.append({**row, "data": f"val100 ({prep})", "decode_s": load_s})
                if args.stream:
                    rows += stream_rows(prep, args.n_archs, args.batch, args.workers)
        else:
            from nasrepro.bench.supernet.benchmark import default_data
            from nasrepro.bench.supernet.configs import get_config

            cfg = get_config(name)
            d = default_data(name)
            data = {k: [(x, y) for x, y in d[k]] for k in ("recal", "val")}
            row = measure(name, data, args.n_archs, cfg.bn_recal_batch_size, cfg.val_batch_size, args.device)
            rows.append({**row, "data": d["describe"]["data"]})
        print(rows[-1])
    cmd = (f"nasrepro speed supernet-eval --configs {args.configs} --device {args.device} --n-archs {args.n_archs} "
           f"--threads {args.threads}" + (f" --stream --batch {args.batch} --workers {args.workers}" if args.stream else ""))
    lines = [
        "# Supernet subnet evaluation throughput", "",
        f"Command: `{cmd}`. Randomly initialised supernet (speed only). Per subnet: BN recalibration "
        "(cumulative average) + validation. `in-memory`: batches held in memory, `seconds` = the evaluator's "
        "measured seconds (what the benchmark reports as cost); `pipeline`: decoding + preprocessing alone; "
        "`stream`: every batch read from disk on each evaluation, wall seconds. `cpu_s`: this process's CPU "
        "seconds. See `reproduce/speed_supernet_eval.py`.", "",
        f"Machine: {machine_line()}; {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), {os.cpu_count()} CPUs.", "",
        *md_table(rows, ["config", "data", "mode", "subnets", "images", "seconds", "cpu_s", "images_per_s",
                         "images_per_cpu_s", "s_per_subnet", "mean_flops_m", "decode_s", "energy_j"]), "",
    ]
    sources = {"images": "$NASREPRO_DATA/images/imagenet/val100"} if "imagenet" in names else {}
    path = write_outputs("supernet_eval", speed_dir(args.out), rows, lines, sources=sources)
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0
