"""``nasrepro supernet train``: train a SPOS supernet (single process, or under torchrun for DDP).

Data-parallel: ``torchrun --nproc-per-node N -m reproduce.cli supernet train ...`` (or
``torchrun --nproc-per-node N --no-python nasrepro supernet train ...``); ``--batch-size`` is global.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nasrepro.bench.supernet.configs import CONFIGS, DEFAULT_CONFIG

DEFAULT_CHECKPOINT_NAME = "checkpoint.pt"


def default_out(config: str) -> Path:
    """Where a supernet of ``config`` is trained by default: the cache, not the repository."""
    from nasrepro.bench.paths import cache_dir

    return cache_dir() / "supernets" / config


def ensure_supernet(config: str, checkpoint: str | None, data_root: str | None) -> tuple[str, str]:
    """The supernet to search and a line saying where it came from.

    The given file; else the cached one in :func:`default_out` when it was trained with the config's
    current default settings to the end; else one trained now (an interrupted training of the same
    settings is resumed; a cache trained with other settings, e.g. older defaults, or an unreadable
    one is replaced: ``force=True``, on purpose, since this folder is our cache, not a user's --out).
    """
    if checkpoint:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"checkpoint {checkpoint} not found; train one with: nasrepro supernet train")
        return checkpoint, f"given: {checkpoint}"
    from nasrepro.bench.supernet.data import load_data
    from nasrepro.bench.supernet.train import checkpoint_progress, default_settings, read_log, train_supernet

    out = default_out(config)
    path = out / DEFAULT_CHECKPOINT_NAME
    settings = default_settings(config)
    resume = False
    progress = checkpoint_progress(path) if path.exists() else None
    if progress is not None and progress[0] == settings:
        if progress[1] >= settings.steps:
            log = read_log(path)
            last = log[-1] if log else {}
            return str(path), (
                f"cached: {path} ({settings.steps} steps of batch {settings.batch_size}, lr {settings.lr}, "
                f"trained in {float(last.get('seconds', 0)):.0f} s wall; last logged train loss "
                f"{last.get('loss')}, train top-1 {last.get('train_top1')}%)"
            )
        resume = True
    t0 = time.perf_counter()
    data = load_data(config, data_root, seed=0)
    train_supernet(config, data, settings, out, resume=resume, force=not resume and path.exists())
    return str(path), (
        f"trained now: {settings.steps} steps of batch {settings.batch_size}, lr {settings.lr}, "
        f"{time.perf_counter() - t0:.0f} s ({path})"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("supernet", help="SPOS supernet: train one (CPU small configs or ImageNet)")
    sub = p.add_subparsers(dest="supernet_command", metavar="ACTION")
    sub.required = True
    t = sub.add_parser(
        "train",
        help="train a supernet with uniform single-path sampling",
        description="Train a SPOS supernet; writes OUT/checkpoint.pt and OUT/train_log.csv.",
    )
    t.add_argument("--config", choices=sorted(CONFIGS), default=DEFAULT_CONFIG)
    t.add_argument("--data-root", type=Path, help="ImageNet root (train/, val/) or a CIFAR-10 folder")
    t.add_argument("--out", type=Path, help="output folder (default: the cache, supernets/CONFIG)")
    t.add_argument("--steps", type=int, help="training iterations (default: per config)")
    t.add_argument("--batch-size", type=int, help="global batch size (default: per config)")
    t.add_argument("--lr", type=float, help="initial learning rate (linear decay to 0)")
    t.add_argument(
        "--sampling", choices=("uniform", "flops-bins"), help="path sampling (default: per config)"
    )
    t.add_argument("--preprocessing", choices=("standard", "spos"), default="standard", help="ImageNet only")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    t.add_argument(
        "--force",
        action="store_true",
        help="start again over an existing OUT/checkpoint.pt (without it, or --resume, training into a "
        "folder with a checkpoint is refused)",
    )
    t.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    t.add_argument("--workers", type=int, default=0, help="data-loading worker processes")
    t.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across ranks (CUDA only)")
    t.add_argument("--eval-archs", type=int, default=3, help="after training, evaluate N random subnets")
    t.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from nasrepro.bench.paths import check_out_dir
    from nasrepro.bench.supernet import ddp
    from nasrepro.bench.supernet.data import load_data
    from nasrepro.bench.supernet.train import check_overwrite, default_settings, train_supernet

    if ddp.from_env().enabled:
        torch.set_num_threads(1)  # one thread per rank: torchrun starts one process per core or GPU
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    settings = default_settings(
        args.config,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        sampling=args.sampling,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
    )
    out = check_out_dir(args.out) if args.out is not None else default_out(args.config)
    # before the data is loaded: a finished supernet (also the cache that pcf-es/spos-search reuse)
    # is not overwritten by a plain `supernet train`
    check_overwrite(out, resume=args.resume, force=args.force)
    data = load_data(args.config, args.data_root, seed=args.seed, preprocessing=args.preprocessing)
    d = ddp.from_env()
    t0 = time.perf_counter()
    try:
        result = train_supernet(
            args.config,
            data,
            settings,
            out,
            resume=args.resume,
            force=args.force,
            device=device,
            dist=d,
            sync_bn=args.sync_bn,
            workers=args.workers,
        )
    finally:
        ddp.shutdown()
    wall = time.perf_counter() - t0
    if not d.is_main:
        return 0
    last = result.log[-1] if result.log else {}
    print(
        f"trained {args.config} supernet: steps {result.resumed_from}->{result.steps_done} "
        f"in {wall:.1f}s this run ({result.seconds:.1f}s in total), "
        f"final train loss {last.get('loss')}, train top-1 {last.get('train_top1')}%"
    )
    print(f"wrote {out / 'checkpoint.pt'} and {out / 'train_log.csv'}")
    if args.eval_archs > 0:
        from nasrepro.bench.supernet.evaluator import SubnetEvaluator
        from nasrepro.bench.supernet.space import SupernetSpace

        cfg = result.model.config
        ev = SubnetEvaluator(
            result.model.eval(),
            _recal_batches(data, cfg.bn_recal_batches, cfg.bn_recal_batch_size, args.seed),
            _loader(data.search_val, cfg.val_batch_size),
            bn_batches=cfg.bn_recal_batches,
            device=device,
        )
        space = SupernetSpace(cfg)
        rng = np.random.default_rng([args.seed, 99])
        for _ in range(args.eval_archs):
            arch = space.sample(rng)
            r = ev.evaluate(arch)
            print(f"  subnet {space.to_str(arch)}: search-val top-1 {r.top1:.2f}% top-5 {r.top5:.2f}%")
    return 0


def _loader(split, batch_size: int):  # noqa: ANN001, ANN202 - thin wrappers
    from nasrepro.bench.supernet.data import eval_loader

    return eval_loader(split, batch_size)


def _recal_batches(data, n: int, batch_size: int, seed: int):  # noqa: ANN001, ANN202
    from nasrepro.bench.supernet.data import train_loader

    return list(train_loader(data.train, min(batch_size, len(data.train)), seed=seed + 7, n_steps=n))
