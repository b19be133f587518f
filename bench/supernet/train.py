"""Supernet training with uniform single-path sampling (SPOS), single process or DDP (torchrun).

The recipe of the official ``src/Supernet/train.py`` (megvii-model/SinglePathOneShot):

- one path per step, drawn uniformly (``sampling="uniform"``) or, as the official code does,
  ``"flops-bins"``: pick one of 7 FLOPs bins uniformly ([290, 360) M in steps of 10M for ImageNet),
  then draw uniform paths until one falls in the bin (500 tries, else a uniform path);
- SGD, momentum 0.9, linear decay ``lr_s = lr * (1 - s / T)`` where the official loop calls
  ``scheduler.step()`` *before* each update, so update ``s = 1..T`` uses ``lr * (1 - s / T)``;
- label smoothing 0.1 (``F.cross_entropy(label_smoothing=0.1)`` equals the official
  ``CrossEntropyLabelSmooth``);
- weight decay 4e-5 only on parameters named ``weight`` with more than one dimension (official
  ``get_parameters``: conv and linear weights; the supernet's BNs have no affine parameters);
- parameters off the sampled path get **no update at all** (no weight decay, no momentum step):
  the official code sets gradients that sum to zero to ``None`` before ``optimizer.step()``.

Determinism: the path of step ``s`` comes from ``numpy.random.default_rng([seed, 3, s])``, the batch
from :class:`bench.supernet.data.StepBatchSampler`, dropout from torch's generator seeded with
``(seed, s, rank)`` inside ``torch.random.fork_rng`` (the caller's global state is restored). A run
resumed from a checkpoint therefore repeats exactly what the uninterrupted run does, and every DDP
rank trains the same path at each step.

DDP: ``DistributedDataParallel(find_unused_parameters=True)`` (only one path has gradients); each
rank takes its shard of the global batch. BatchNorm statistics are per rank on CPU (PyTorch's
``SyncBatchNorm`` is CUDA-only); ``sync_bn=True`` converts to it on CUDA. A single process with
``micro_batches=W`` (BN statistics per micro-batch, gradients accumulated) computes the same update as
``W`` ranks without SyncBN; the tests check this.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from nasrepro.bench.io import atomic_write_text
from nasrepro.bench.supernet import ddp
from nasrepro.bench.supernet.checkpoint import FORMAT, load_state_dict_checked, save_checkpoint
from nasrepro.bench.supernet.configs import SupernetConfig, get_config
from nasrepro.bench.supernet.data import SupernetData, train_loader
from nasrepro.bench.supernet.flops import flops_quantiles, flops_table
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot

SAMPLINGS = ("uniform", "flops-bins")
CHECKPOINT = "checkpoint.pt"
LOG = "train_log.csv"
LOG_FIELDS = ("step", "lr", "loss", "train_top1", "arch", "flops_m", "seconds")


@dataclass(frozen=True)
class TrainSettings:
    """What defines a training run (a resume must match all of it except ``steps``'s checkpoints)."""

    steps: int
    batch_size: int  # global, over all processes
    lr: float = 0.5
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    sampling: str = "uniform"
    seed: int = 0
    micro_batches: int = 1
    checkpoint_every: int = 10_000
    log_every: int = 20

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch size must be positive, got {self.steps} and {self.batch_size}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {self.sampling!r}; choose one of: {', '.join(SAMPLINGS)}")
        if self.micro_batches < 1:
            raise ValueError(f"micro_batches must be >= 1, got {self.micro_batches}")
        if not self.lr > 0 or self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("lr, checkpoint_every and log_every must be positive")


# Official ImageNet recipe. The small configs keep it except batch size, length and learning rate,
# chosen for 9k/4k-image sets on a CPU (documented choices, not from the paper): lr 0.5 at batch 1024
# scaled linearly would be 0.0625 at 128; 0.1 learned fastest in short trial runs on mnist-small.
# cifar10-small: uniform single-path sampling learns far slower than one fixed path (300 steps: 13%
# vs 54% batch top-1 in a side-by-side trial), so 1,200 steps left a 23% supernet; 6,000 steps
# (85 epochs of the 9k split, about 13 min on 2 idle cores) is the default.
DEFAULT_SETTINGS: dict[str, TrainSettings] = {
    "imagenet": TrainSettings(steps=150_000, batch_size=1024, sampling="flops-bins"),
    "cifar10-small": TrainSettings(steps=6_000, batch_size=128, lr=0.1, checkpoint_every=100, log_every=10),
    "mnist-small": TrainSettings(steps=1500, batch_size=128, lr=0.1, checkpoint_every=100, log_every=10),
    # cifar10-spos: 3,000 steps (43 epochs of the 9k split) keep the training to about 10-15 min on
    # one core (a step costs about as much as a cifar10-small step: 2.2M vs 4.0M MACs, twice the blocks)
    "cifar10-spos": TrainSettings(steps=3_000, batch_size=128, lr=0.1, checkpoint_every=100, log_every=10),
}


def default_settings(config: SupernetConfig | str, **overrides: Any) -> TrainSettings:
    cfg = get_config(config)
    base = DEFAULT_SETTINGS.get(cfg.name, DEFAULT_SETTINGS["cifar10-small"])
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def lr_at(settings: TrainSettings, step: int) -> float:
    """Learning rate of update ``step`` (0-based): the official ``lr * (1 - (step + 1) / T)``."""
    return settings.lr * max(0.0, 1.0 - (step + 1) / settings.steps)


# ---- path sampling -----------------------------------------------------------------------------
def flops_bins_m(config: SupernetConfig | str) -> list[tuple[float, float]]:
    """The 7 FLOPs bins of ``flops-bins`` sampling, in M MACs.

    ImageNet: the official [290, 300), ..., [350, 360). Other configs: ``config.extra['flops_bins_m']``
    if given, else 7 equal bins from the 10th to the 90th percentile of uniformly sampled paths
    (the official bins cover about that part of the ImageNet distribution around the 330M limit).
    """
    cfg = get_config(config)
    if "flops_bins_m" in cfg.extra:
        return [tuple(b) for b in cfg.extra["flops_bins_m"]]
    if cfg.name == "imagenet":
        return [(float(lo), float(lo + 10)) for lo in range(290, 360, 10)]
    q = flops_quantiles(cfg, n=20_000, seed=0)
    edges = np.linspace(q["q10"], q["q90"], 8)
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


class PathSampler:
    """The path of step ``s``, a function of ``(seed, s)`` only (so DDP ranks and resumes agree)."""

    def __init__(self, config: SupernetConfig | str, sampling: str, seed: int, timeout: int = 500) -> None:
        self.cfg = get_config(config)
        self.sampling, self.seed, self.timeout = sampling, seed, timeout
        self.table = flops_table(self.cfg)
        self.bins = flops_bins_m(self.cfg) if sampling == "flops-bins" else []

    def __call__(self, step: int) -> tuple[int, ...]:
        rng = np.random.default_rng([self.seed, 3, step])

        def uniform() -> tuple[int, ...]:
            return tuple(int(c) for c in rng.integers(self.cfg.n_choices, size=self.cfg.n_blocks))

        if self.sampling == "uniform":
            return uniform()
        lo, hi = self.bins[int(rng.integers(len(self.bins)))]
        for _ in range(self.timeout):
            arch = uniform()
            if lo <= self.table.flops_m(arch) <= hi:
                return arch
        return uniform()  # as the official code, after the timeout


# ---- optimiser ---------------------------------------------------------------------------------
def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Official ``get_parameters``: decay on ``*weight`` tensors with >1 dimension, none elsewhere."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if "weight" in name and p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _drop_off_path_grads(model: ShuffleNetV2OneShot, arch: tuple[int, ...]) -> None:
    """Parameters off ``arch`` get no gradient, hence no decay and no momentum step (official behaviour)."""
    on_path = {id(p) for p in model.subnet_parameters(arch)}
    for p in model.parameters():
        if id(p) not in on_path:
            p.grad = None


# ---- the run -----------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: ShuffleNetV2OneShot
    log: list[dict[str, Any]]
    seconds: float
    steps_done: int
    resumed_from: int = 0
    checkpoint: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _settings_from(meta: dict[str, Any]) -> TrainSettings:
    known = {f.name for f in fields(TrainSettings)}
    return TrainSettings(**{k: v for k, v in meta["settings"].items() if k in known})


def _check_resume(path: Path, recorded: TrainSettings, wanted: TrainSettings) -> None:
    a, b = asdict(recorded), asdict(wanted)
    diff = [k for k in a if k not in ("checkpoint_every", "log_every") and a[k] != b[k]]
    if diff:
        shown = ", ".join(f"{k}={a[k]} (asked {b[k]})" for k in diff)
        raise ValueError(
            f"{path} was trained with other settings: {shown}; use the same options or another --out"
        )


def check_overwrite(out_dir: Path | str | None, *, resume: bool, force: bool, flag: str = "--out") -> None:
    """Refuse to start a training over an existing checkpoint unless asked (one-line ``ValueError``).

    A finished supernet may have cost hours (ImageNet: days); starting again into its folder would
    overwrite it at the first checkpoint. ``resume`` continues it, ``force`` overwrites it on purpose.
    Called before the data is loaded, and again by :func:`train_supernet`.
    """
    if resume and force:
        raise ValueError("--resume and --force contradict each other: --resume continues OUT/checkpoint.pt, "
                         "--force starts again over it; pass one")
    if out_dir is None or resume or force:
        return
    path = Path(out_dir) / CHECKPOINT
    if not path.exists():
        return
    progress = checkpoint_progress(path)
    if progress is None:
        state = "holds a checkpoint not written by this trainer"
    elif progress[1] >= progress[0].steps:
        state = f"holds a finished training ({progress[1]} of {progress[0].steps} steps)"
    else:
        state = f"holds an unfinished training ({progress[1]} of {progress[0].steps} steps)"
    raise ValueError(f"{path} {state}; pass --resume to continue it or --force to overwrite it, "
                     f"or give another {flag}")


def _train_meta(path: Path | str) -> dict[str, Any] | None:
    """The ``meta["train"]`` of a training checkpoint of this tool; ``None`` if unreadable or foreign."""
    try:
        return dict(torch.load(path, map_location="cpu", weights_only=True)["meta"]["train"])
    except Exception:  # noqa: BLE001 - the callers treat it as "no usable training checkpoint"
        return None


def checkpoint_progress(path: Path | str) -> tuple[TrainSettings, int] | None:
    """``(settings, steps done)`` of a training checkpoint of this tool, ``None`` if it is not one."""
    meta = _train_meta(path)
    return None if meta is None else (_settings_from(meta), int(meta["step"]))


def read_log(checkpoint: Path | str) -> list[dict[str, Any]]:
    """The training log stored in a checkpoint of this tool (empty if it has none)."""
    meta = _train_meta(checkpoint)
    return list(meta.get("log", [])) if meta else []


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def train_supernet(
    config: SupernetConfig | str,
    data: SupernetData,
    settings: TrainSettings,
    out_dir: Path | str | None = None,
    *,
    resume: bool = False,
    force: bool = False,
    stop_after: int | None = None,
    device: str | torch.device = "cpu",
    dist: ddp.Dist | None = None,
    init_method: str | None = None,
    sync_bn: bool = False,
    workers: int = 0,
    progress: bool = True,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train the supernet of ``config`` on ``data.train``.

    ``out_dir``: where ``checkpoint.pt`` (every ``checkpoint_every`` steps and at the end, atomic) and
    ``train_log.csv`` go (``None``: nothing written). ``resume``: continue from ``out_dir/checkpoint.pt``
    (same settings required). An existing checkpoint there is never overwritten unless ``force``
    (:func:`check_overwrite`). ``stop_after``: stop after this many updates in this call (a checkpoint
    is written), the run can then be resumed; the learning-rate schedule always follows
    ``settings.steps``. ``dist``: rank/world (default: from torchrun's environment).
    """
    cfg = get_config(config)
    check_overwrite(out_dir, resume=resume, force=force)
    device = torch.device(device)
    d = dist if dist is not None else ddp.from_env()
    ddp.init(d, device, init_method)
    if d.enabled and device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / CHECKPOINT if out is not None else None

    model = ShuffleNetV2OneShot(cfg, seed=settings.seed)
    opt = torch.optim.SGD(
        param_groups(model, settings.weight_decay), lr=settings.lr, momentum=settings.momentum
    )
    start, log, prior_s = 0, [], 0.0
    if resume:
        if ckpt_path is None or not ckpt_path.exists():
            raise FileNotFoundError(f"nothing to resume: {ckpt_path} does not exist; drop --resume to start")
        obj = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if obj.get("format") != FORMAT or obj.get("config") != cfg.name or "train" not in obj.get("meta", {}):
            raise ValueError(
                f"{ckpt_path} is not a {cfg.name} training checkpoint of this tool; use another --out"
            )
        meta = obj["meta"]["train"]
        _check_resume(ckpt_path, _settings_from(meta), settings)
        load_state_dict_checked(model, obj["state_dict"], str(ckpt_path))
        opt.load_state_dict(meta["optimizer"])
        start, log, prior_s = int(meta["step"]), list(meta["log"]), float(meta["seconds"])
    model.to(device)
    for state in opt.state.values():  # momentum buffers follow the model's device
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                state[k] = v.to(device)

    net: nn.Module = model
    if d.enabled:
        if sync_bn and device.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )
    end = settings.steps if stop_after is None else min(settings.steps, start + stop_after)
    sampler = PathSampler(cfg, settings.sampling, settings.seed)
    loader = train_loader(
        data.train, settings.batch_size, settings.seed, start, max(0, end - start), d.rank, d.world, workers
    )
    fork_devices = [device] if device.type == "cuda" else []
    t0 = time.perf_counter()

    def save(step: int) -> None:
        if out is None or not d.is_main:
            return
        seconds = prior_s + time.perf_counter() - t0
        meta = {
            "step": step,
            "settings": asdict(settings),
            "optimizer": opt.state_dict(),
            "log": log,
            "seconds": seconds,
            "world": d.world,
            "data": data.describe(),
        }
        save_checkpoint(ckpt_path, model, {"train": meta, "iters": step, "seconds": seconds})
        write_log(out / LOG, log)

    bar = None
    if progress and d.is_main:
        from tqdm import tqdm

        bar = tqdm(total=end, initial=start, desc=f"supernet {cfg.name}", unit="step")
    net.train()
    step = start
    run_loss = run_acc = 0.0
    run_n = 0
    for x, y in loader:
        arch = sampler(step)
        lr = lr_at(settings, step)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss_sum, correct = 0.0, 0
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(int(np.random.default_rng([settings.seed, 4, step, d.rank]).integers(2**62)))
            chunks = list(zip(x.chunk(settings.micro_batches), y.chunk(settings.micro_batches)))
            for xc, yc in chunks:
                logits = net(xc, arch)
                loss = F.cross_entropy(logits, yc, label_smoothing=settings.label_smoothing) / len(chunks)
                loss.backward()
                loss_sum += float(loss.detach())
                correct += int((logits.detach().argmax(1) == yc).sum())
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"loss became {loss_sum} at step {step}: lower --lr")
        _drop_off_path_grads(model, arch)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        run_loss += loss_sum
        run_acc += 100.0 * correct / len(y)
        run_n += 1
        if step % settings.log_every == 0 or step == end:
            row = {
                "step": step,
                "lr": round(lr, 8),
                "loss": round(ddp.all_mean(run_loss / run_n, device), 6),
                "train_top1": round(ddp.all_mean(run_acc / run_n, device), 3),
                "arch": ",".join(map(str, arch)),
                "flops_m": round(sampler.table.flops_m(arch), 3),
                "seconds": round(prior_s + time.perf_counter() - t0, 2),
            }
            log.append(row)
            run_loss = run_acc = 0.0
            run_n = 0
            if bar is not None:
                bar.set_postfix(loss=row["loss"], top1=row["train_top1"])
            if on_step is not None:
                on_step(step, row)
        if step % settings.checkpoint_every == 0 and step != end:
            save(step)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if step != end:
        raise RuntimeError(f"the data loader stopped at step {step} before step {end}")
    save(step)
    ddp.barrier()
    seconds = prior_s + time.perf_counter() - t0
    return TrainResult(model, log, seconds, step, start, ckpt_path if out is not None else None)
