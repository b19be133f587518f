"""The supernet as a :class:`~bench.core.Benchmark`: subnets with inherited weights, measured cost.

``query(arch)`` = validation top-1 (%) of the subnet after BN recalibration (the SPOS search signal),
``cost_s`` = the measured seconds of that evaluation (BN recalibration + validation forward).
``final(arch)`` = top-1 on a held-out **test** split that no ``query`` ever touches (plus the
validation numbers, FLOPs/params and, when the test split is in memory, ``test_correct``: one
``0``/``1`` character per test image, for paired per-image statistics).

``cost="flops"`` replaces the measured seconds by a deterministic stand-in: ``cost_s`` = giga
multiply-adds the evaluation computes (recalibration and validation images times the subnet's MACs
minus those of the stem and blocks served from the prefix cache, which is assumed to hold them), and
no measured seconds in ``info``; trajectories are then byte-identical in any process (tests).

Feature reuse seam (PCF-ES): ``announce({"frozen_prefix": (c0, c1, ..., c_{k-1})})`` records the
choices a method has frozen for the first ``k`` blocks. When a prefix provider is plugged in
(``prefix_provider=`` at construction or :meth:`SupernetBenchmark.set_prefix_provider`) every query
whose architecture starts with the frozen prefix is evaluated with ``prefix_len=k`` through it (see
``bench/supernet/evaluator.py`` for the provider contract). Without a provider the hint is recorded
and has no effect on cost or results; this benchmark itself keeps no cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from nasrepro.bench.core import Arch, Benchmark, Observation
from nasrepro.bench.supernet.checkpoint import checkpoint_config, load_checkpoint
from nasrepro.bench.supernet.configs import get_config
from nasrepro.bench.supernet.evaluator import CostLedger, PrefixProvider, SubnetEvaluator, as_batches
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot
from nasrepro.bench.supernet.prefix_cache import PrefixCache
from nasrepro.bench.supernet.sampling import SampleSet, build_sample_set, check_sample_rate, per_sample_ce
from nasrepro.bench.supernet.space import SupernetSpace

# config -> data set; the last config of a data set is the one --dataset picks
_DATASETS = {"imagenet": "imagenet", "cifar10-spos": "cifar10", "cifar10-small": "cifar10", "mnist-small": "mnist"}


def _split(data: Any, *names: str) -> Any:
    for n in names:
        if isinstance(data, dict) and n in data:
            return data[n]
        if hasattr(data, n):
            return getattr(data, n)
    raise ValueError(f"supernet data needs a {' or '.join(repr(n) for n in names)} split")


def _n_batches(batches: Any) -> str:
    try:  # lists and loaders with a sized sampler; never iterate (that would load every image)
        return str(len(batches))
    except TypeError:
        return "?"


def _materialise(data: Any) -> Any:
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return data
    return [(x, y) for x, y in data]


class SupernetBenchmark(Benchmark):
    name = "supernet"

    def __init__(
        self,
        model: ShuffleNetV2OneShot,
        data: Any,
        *,
        checkpoint: str | None = None,
        flops_limit_m: float | None = None,
        bn_batches: int | None = None,
        bn_batch_size: int | None = None,
        val_batch_size: int | None = None,
        bn_momentum: float | None = None,
        device: str = "cpu",
        prefix_provider: PrefixProvider | None = None,
        preload: bool = False,
        cache_mb: float | str | None = None,
        sample_rate: float = 1.0,
        sample_after: int = 50,
        cost: str = "measured",
    ) -> None:
        cfg = model.config
        self.data_describe = dict(data.get("describe", {})) if isinstance(data, dict) else {}
        recal, val, test = _split(data, "recal", "train"), _split(data, "val"), _split(data, "test")
        if preload:  # read each batch once (the small configs fit in memory): no per-query loading
            recal, val, test = (_materialise(d) for d in (recal, val, test))
        self.config = cfg
        self.dataset = _DATASETS.get(cfg.name, cfg.name)
        self.space = SupernetSpace(cfg, flops_limit_m)
        self.checkpoint = checkpoint
        self.evaluator = SubnetEvaluator(
            model,
            recal,
            val,
            bn_batches=bn_batches or cfg.bn_recal_batches,
            bn_batch_size=bn_batch_size or cfg.bn_recal_batch_size,
            val_batch_size=val_batch_size or cfg.val_batch_size,
            bn_momentum=bn_momentum,
            device=device,
            extra_sets={"test": test},
        )
        if cache_mb is not None and prefix_provider is None:
            # PCF-ES feature reuse: a byte-budgeted cache of the announced frozen prefix
            prefix_provider = PrefixCache.from_mb(cache_mb, self.evaluator.device)
        self.prefix_provider = prefix_provider
        self.frozen_prefix: tuple[int, ...] = ()
        # distinguish-based importance sampling of validation images (bench/supernet/sampling.py)
        self.sample_rate = check_sample_rate(sample_rate)
        self.sample_after = int(sample_after)
        self._losses: list[np.ndarray] = []
        self._correct: list[np.ndarray] = []
        self.sample_set: SampleSet | None = None
        self._val: dict[Arch, tuple[float, float]] = {}
        if cost not in ("measured", "flops"):
            raise ValueError(f"supernet cost must be 'measured' or 'flops', got {cost!r}")
        if cost == "flops" and not all(isinstance(b, list) for b in (self.evaluator.recal, self.evaluator.sets["val"])):
            raise ValueError("supernet cost='flops' needs the data in memory (preload=True)")
        self.cost = cost

    # -- seam for feature reuse -------------------------------------------------------------
    def set_prefix_provider(self, provider: PrefixProvider | None) -> None:
        """Plug in (or remove) the prefix feature provider used for announced frozen prefixes."""
        self.prefix_provider = provider

    def announce(self, hints: dict[str, Any]) -> None:
        """Accepts ``frozen_prefix``: the choices of the first k blocks the method has frozen."""
        if "frozen_prefix" in hints:
            prefix = tuple(int(c) for c in hints["frozen_prefix"])
            n = self.config.n_blocks
            if len(prefix) > n or any(not 0 <= c < self.config.n_choices for c in prefix):
                raise ValueError(
                    f"frozen_prefix {prefix} does not fit the {self.config.name} supernet ({n} blocks)"
                )
            self.frozen_prefix = prefix
            if hasattr(self.prefix_provider, "set_prefix"):
                self.prefix_provider.set_prefix(prefix)  # type: ignore[union-attr]

    def prefix_len_for(self, arch: Arch) -> int:
        k = len(self.frozen_prefix)
        if self.prefix_provider is None or k == 0 or tuple(arch[:k]) != self.frozen_prefix:
            return 0
        return k

    # -- the protocol -----------------------------------------------------------------------
    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        arch = self.space.check(arch)
        k = self.prefix_len_for(arch)
        provider = self.prefix_provider if k else None
        split = "val_is" if self.sample_rate < 1.0 and self.sample_set is not None else "val"  # before the warm-up ends
        if split == "val_is":
            res = self.evaluator.evaluate(
                arch, prefix_len=k, prefix_provider=provider, split="val_is", keep_logits=True
            )
            assert res.logits is not None
            y = torch.cat([b[1] for b in self.evaluator.sets["val_is"]])
            correct = (res.logits.argmax(1) == y).numpy().astype(np.float64)
            assert self.sample_set is not None
            res.top1 = self.sample_set.estimate_top1(correct)
        else:
            sampling = self.sample_rate < 1.0
            res = self.evaluator.evaluate(arch, prefix_len=k, prefix_provider=provider, keep_logits=sampling)
            if sampling:
                self._collect_losses(res.logits)
        self._val[arch] = (res.top1, res.top5)
        info = {"top5": res.top5, "flops_m": self.space.flops_m(arch), "prefix_len": k}
        if self.cost == "flops":
            n_img = sum(len(b[1]) for b in (*self.evaluator.recal, *self.evaluator.sets[split]))
            macs = self.space.table.flops(arch) - (self.space.table.prefix_flops(arch, k) if k else 0)
            return Observation(score=res.top1, cost_s=n_img * macs / 1e9, cost_kind="simulated", info=info)
        info.update({f"{p}_s": s for p, s in res.seconds.items()})
        if res.energy_j is not None:
            info["energy_j"] = res.energy_j
        return Observation(
            score=res.top1, cost_s=float(sum(res.seconds.values())), cost_kind="measured", info=info
        )

    def reset(self) -> None:
        """A new run: no frozen prefix, an empty cache, a fresh ledger, no importance-sample set."""
        self.frozen_prefix = ()
        if hasattr(self.prefix_provider, "reset"):
            self.prefix_provider.reset()  # type: ignore[union-attr]
        ledger = CostLedger()
        ledger.energy_source = self.evaluator.energy.source
        if self.evaluator.energy.available:
            ledger.energy_j = 0.0
        self.evaluator.ledger = ledger
        self.evaluator.sets.pop("val_is", None)
        self.sample_set = None
        self._losses, self._correct = [], []
        self._val = {}

    def _collect_losses(self, logits: torch.Tensor | None) -> None:
        """Warm-up of importance sampling: per-sample losses of the first ``sample_after`` subnets."""
        assert logits is not None
        val = list(self.evaluator.sets["val"])
        y = torch.cat([b[1] for b in val])
        self._losses.append(per_sample_ce(logits, y))
        self._correct.append((logits.argmax(1) == y).numpy().astype(np.float64))
        if len(self._losses) >= self.sample_after:
            self.sample_set = build_sample_set(np.stack(self._losses), self.sample_rate, np.stack(self._correct))
            x = torch.cat([b[0] for b in val])
            idx = torch.as_tensor(self.sample_set.indices)
            bs = max(len(b[1]) for b in val)
            self.evaluator.sets["val_is"] = as_batches((x[idx], y[idx]), bs)
            self._losses, self._correct = [], []

    def final(self, arch: Arch) -> dict[str, Any]:
        arch = self.space.check(arch)
        search_ledger = self.evaluator.ledger
        self.evaluator.ledger = CostLedger()  # final evaluations are not search cost
        try:
            if arch not in self._val:
                r = self.evaluator.evaluate(arch)
                self._val[arch] = (r.top1, r.top5)
            in_memory = isinstance(self.evaluator.sets["test"], list)  # labels without reading images again
            test = self.evaluator.evaluate(arch, split="test", keep_logits=in_memory)
        finally:
            self.evaluator.ledger = search_ledger
        val1, val5 = self._val[arch]
        extra: dict[str, Any] = {}
        if test.logits is not None:
            y = torch.cat([b[1] for b in self.evaluator.sets["test"]])
            extra["test_correct"] = "".join("1" if c else "0" for c in (test.logits.argmax(1) == y).tolist())
        return {
            "val_acc": val1,
            "val_top5": val5,
            "test_acc": test.top1,
            "test_top5": test.top5,
            "flops_m": self.space.flops_m(arch),
            "params_m": self.space.params(arch) / 1e6,
            **extra,
        }

    def describe(self) -> dict[str, str]:
        ev = self.evaluator
        return {
            "benchmark": self.name,
            "dataset": self.dataset,
            "config": self.config.name,
            "checkpoint": str(self.checkpoint) if self.checkpoint else "none (randomly initialised supernet)",
            "flops_limit_m": f"{self.space.flops_limit_m:g}",
            "bn_recal": f"{_n_batches(ev.recal)} batches, momentum {ev.bn_momentum or 'cumulative'}",
            "device": str(ev.device),
            "energy": ev.energy.source,
            "cost_model": "measured wall seconds of BN recalibration + validation per subnet"
            if self.cost == "measured" else "giga multiply-adds computed per subnet evaluation (cost='flops')",
            **self.data_describe,
        }

    def ledger(self) -> dict[str, Any]:
        out = self.evaluator.ledger.as_dict()
        stats = getattr(self.prefix_provider, "stats", None)
        if stats is not None and hasattr(stats, "as_dict"):
            out.update({f"cache_{k}": v for k, v in stats.as_dict().items()})
        if self.sample_set is not None:
            out["sampled_images"] = int(len(self.sample_set.indices))
        return out


def default_data(
    config: str,
    data_root: str | None = None,
    seed: int = 0,
    preprocessing: str = "standard",
    bn_batches: int | None = None,
    bn_batch_size: int | None = None,
    val_batch_size: int | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """The recal / val / test batches of a config from ``bench/supernet/data.py`` (``load_data``).

    Recalibration: the first ``bn_batches`` training batches of the seeded step sampler (augmented
    training view, fixed augmentation seeds), the same for every candidate; validation: the search-val
    split in order; test: the held-out test split in order. All deterministic.
    """
    from nasrepro.bench.supernet import data as sd

    cfg = get_config(config)
    d = sd.load_data(cfg, data_root=data_root, seed=seed, preprocessing=preprocessing)
    k = bn_batches or cfg.bn_recal_batches
    b = min(bn_batch_size or cfg.bn_recal_batch_size, len(d.train))
    vb = val_batch_size or cfg.val_batch_size
    return {
        "recal": sd.train_loader(d.train, b, seed, n_steps=k, workers=workers),
        "val": sd.eval_loader(d.search_val, vb, workers=workers),
        "test": sd.eval_loader(d.test, vb, workers=workers),
        "describe": d.describe(),
    }


def make_supernet(
    config: str | None = None,
    checkpoint: str | Path | None = None,
    data: Any = None,
    data_root: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    preprocessing: str = "standard",
    preload: bool | None = None,
    dataset: str | None = None,
    **opts: Any,
) -> SupernetBenchmark:
    """Factory registered as ``supernet``.

    ``config``: ``imagenet`` | ``cifar10-small`` | ``mnist-small`` (default: the checkpoint's config,
    else ``mnist-small``). ``checkpoint``: official or our format; None = a randomly initialised
    supernet (seed ``seed``), for smoke tests only. ``data``: a dict (or object) with ``recal`` (or
    ``train``), ``val`` and ``test`` splits, each a pair of tensors, a list of batches or a
    deterministic loader; None = :func:`default_data` (``data_root``, ``preprocessing`` for ImageNet:
    ``standard`` or ``spos``). ``preload``: materialise all batches once in memory (default: on for
    the small configs, off for ImageNet). ``device``: ``cpu``, ``cuda`` or ``auto``. Other options (``flops_limit_m``, ``bn_batches``, ``bn_batch_size``,
    ``val_batch_size``, ``bn_momentum``, ``prefix_provider``) go to :class:`SupernetBenchmark`.
    """
    if dataset is not None and config is None:  # --dataset mnist|cifar10|imagenet picks the config
        config = {v: k for k, v in _DATASETS.items()}.get(dataset)
        if config is None:
            raise ValueError(
                f"no supernet config for dataset {dataset!r}; use --config {' | '.join(_DATASETS)}"
            )
    known = {
        "flops_limit_m",
        "bn_batches",
        "bn_batch_size",
        "val_batch_size",
        "bn_momentum",
        "prefix_provider",
        "cache_mb",
        "sample_rate",
        "sample_after",
        "cost",
    }
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ValueError(
            f"unknown supernet option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    device = resolve_device(device)
    if checkpoint is not None:
        recorded = checkpoint_config(checkpoint)
        name = get_config(config or recorded or "imagenet").name
        model, _ = load_checkpoint(checkpoint, name, seed=seed)
    else:
        name = get_config(config or "mnist-small").name
        model = ShuffleNetV2OneShot(name, seed=seed)
    if data is None:
        keys = ("bn_batches", "bn_batch_size", "val_batch_size")
        data = default_data(name, data_root, seed, preprocessing, **{k: opts.get(k) for k in keys})
        if preload is None:
            preload = name != "imagenet"
    return SupernetBenchmark(
        model,
        data,
        checkpoint=str(checkpoint) if checkpoint else None,
        device=device,
        preload=bool(preload),
        **opts,
    )


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; anything else unchanged.

    Commands resolve it before building run specs, so a run's identity names the device it ran on
    (an 'auto' run on CPU and a '--device cpu' run are the same run)."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
