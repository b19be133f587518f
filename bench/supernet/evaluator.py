"""Subnet evaluation on a supernet: BN recalibration, top-1/top-5, and a measured cost ledger.

Procedure (official ``src/Search/tester.py``, with the differences stated):

1. **BN recalibration.** Reset the running statistics of every BN on the subnet's path (mean 0,
   var 1), put the model in train mode and forward ``K`` training batches (no gradients).
   Official: 200 batches x 128 images with the default momentum 0.1. Default here:
   ``bn_momentum=None``, i.e. the *cumulative* average over the K batches, which is the exact
   mean of the batch statistics and does not depend on the order of the batches; with K=200 and
   momentum 0.1 the official estimate is an EMA dominated by the last ~20 batches.
   ``bn_momentum=0.1`` reproduces the official rule. The batches are **the same fixed batches for
   every candidate** (official: a persistent shuffled iterator, so each candidate sees other images);
   this makes candidates comparable and is what a prefix cache needs.
2. **Validation**: eval mode, top-1/top-5 (%) over the whole validation set (official: the next
   8,000-image window of a persistent, class-ordered iterator; here the same set for every candidate).

**Split path / prefix seam (PCF-ES).** ``evaluate(arch, prefix_len=k, prefix_provider=p)`` runs the
stem and blocks ``0..k-1`` (the *prefix*) through ``p``, which may return cached features instead
of computing them. The supernet's BNs have no affine parameters, so after recalibration the prefix's
BN statistics depend only on the prefix choices and the recalibration batches; the provider stores
them once (:meth:`PrefixProvider.bn_state`) and the evaluator reloads them, so a cached evaluation
equals a full one. Contract of a provider (see :class:`PrefixProvider`, and :class:`DictPrefixCache`,
an unbounded reference implementation):

- ``features(phase, batch_index, prefix, compute)`` returns the prefix output for batch
  ``batch_index`` of ``phase`` (``"recal"`` or ``"val"`` or ``"test"``) for the prefix choices
  ``prefix`` (a tuple of length k); on a miss it calls ``compute()`` (which runs the prefix on the
  real batch in the mode the phase needs, with timing charged to the ledger) and may keep the result.
  Recal features are train-mode outputs (batch statistics), val/test features eval-mode ones.
- ``bn_state(prefix)`` / ``store_bn_state(prefix, state)``: the prefix's BN buffers after
  recalibration (None when unknown). When a state is known, prefix recomputations during
  recalibration cannot disturb it: the evaluator reloads it after the recalibration loop.
- Batches must be deterministic (same tensors for the same ``batch_index``) for caching to be exact.

**Cost ledger.** Measured wall seconds per disjoint phase: ``recal_prefix``, ``recal_suffix``,
``val_prefix``, ``val_suffix``, ``other`` (BN reset/state copies); on CUDA each timed section ends with
``torch.cuda.synchronize``. Energy: NVML total-energy counter of the GPU (``pynvml``) when a GPU and the
package are there, else the Linux RAPL powercap counter when readable, else ``None`` = not measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn as nn
from nasrepro.bench.core import Arch
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot

Batch = tuple[torch.Tensor, torch.Tensor]
PHASES = ("recal_prefix", "recal_suffix", "val_prefix", "val_suffix", "other")


# ------------------------------------------------------------------------------------------ data
def as_batches(
    data: Any, batch_size: int, max_batches: int | None = None
) -> Sequence[Batch] | Iterable[Batch]:
    """Normalise data to batches of ``(x, y)``.

    ``data`` may be a pair of tensors ``(x, y)`` (split into batches of ``batch_size``, in order), a
    list of ``(x, y)`` batches, or any re-iterable of batches (a DataLoader; iterated afresh on each use,
    so it must not shuffle if results are to be reproducible). ``max_batches`` keeps the first ones.
    """
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"images and labels differ in number: {x.shape[0]} vs {y.shape[0]}")
        if x.shape[0] == 0:
            raise ValueError("empty data set: no images to evaluate on")
        out = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        return out[:max_batches] if max_batches is not None else out
    if isinstance(data, list):
        return data[:max_batches] if max_batches is not None else data
    if max_batches is None:
        return data

    class _Head:  # the first max_batches of a re-iterable, re-iterable itself
        def __iter__(self) -> Iterator[Batch]:
            for i, b in enumerate(data):
                if i >= max_batches:
                    break
                yield b

    return _Head()


# ------------------------------------------------------------------------------------- energy
class EnergyMeter:
    """Cumulative energy counter in joules: NVML (GPU) or RAPL (CPU package), else unavailable."""

    def __init__(self, device: torch.device) -> None:
        self.source = "not measured"
        self._read: Callable[[], float] | None = None
        if device.type == "cuda":
            try:
                import pynvml  # type: ignore[import-not-found]

                pynvml.nvmlInit()
                handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises where unsupported
                self._read = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3  # mJ -> J
                self.source = "nvml"
            except Exception:  # no package, no driver or unsupported GPU: say so, never estimate
                self._read = None
        if self._read is None:
            path = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
            try:
                float(path.read_text())
                self._read = lambda: float(path.read_text()) / 1e6
                self.source = "rapl"
            except (OSError, ValueError):
                pass

    @property
    def available(self) -> bool:
        return self._read is not None

    def read_j(self) -> float | None:
        return self._read() if self._read is not None else None


# ------------------------------------------------------------------------------------- ledger
@dataclass
class CostLedger:
    """Measured seconds per phase (disjoint), evaluations, and energy where measurable."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    n_evals: int = 0
    energy_j: float | None = None
    energy_source: str = "not measured"

    def add(self, phase: str, s: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + s

    @property
    def total_s(self) -> float:
        return float(sum(self.seconds.values()))

    def as_dict(self) -> dict[str, Any]:
        s = self.seconds
        return {
            **{f"{k}_s": v for k, v in s.items()},
            "bn_recal_s": s["recal_prefix"] + s["recal_suffix"],
            "forward_s": s["val_prefix"] + s["val_suffix"],
            "prefix_s": s["recal_prefix"] + s["val_prefix"],
            "suffix_s": s["recal_suffix"] + s["val_suffix"],
            "total_s": self.total_s,
            "n_evals": self.n_evals,
            "energy_j": self.energy_j if self.energy_j is not None else "not measured",
            "energy_source": self.energy_source,
        }


# ---------------------------------------------------------------------------- prefix provider
class PrefixProvider(Protocol):
    """Where prefix features come from (see the module docstring for the contract)."""

    def features(
        self, phase: str, batch_index: int, prefix: Arch, compute: Callable[[], torch.Tensor]
    ) -> torch.Tensor: ...

    def bn_state(self, prefix: Arch) -> dict[str, torch.Tensor] | None: ...

    def store_bn_state(self, prefix: Arch, state: dict[str, torch.Tensor]) -> None: ...


class DictPrefixCache:
    """Reference provider: keeps every prefix output and BN state in a dict, no budget, no eviction.

    Only for tests and small runs; PCF-ES's cache adds a byte budget, device/host spilling and
    invalidation on top of the same three methods.
    """

    def __init__(self) -> None:
        self._feats: dict[tuple[str, int, Arch], torch.Tensor] = {}
        self._bn: dict[Arch, dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    def features(
        self, phase: str, batch_index: int, prefix: Arch, compute: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        key = (phase, batch_index, tuple(prefix))
        if key in self._feats:
            self.hits += 1
            return self._feats[key]
        self.misses += 1
        out = compute()
        self._feats[key] = out
        return out

    def bn_state(self, prefix: Arch) -> dict[str, torch.Tensor] | None:
        return self._bn.get(tuple(prefix))

    def store_bn_state(self, prefix: Arch, state: dict[str, torch.Tensor]) -> None:
        self._bn[tuple(prefix)] = state


# -------------------------------------------------------------------------------- evaluator
@dataclass
class SubnetResult:
    arch: Arch
    top1: float
    top5: float
    n: int
    seconds: dict[str, float]
    energy_j: float | None
    logits: torch.Tensor | None = None  # (n, classes) on CPU when keep_logits=True


def _bns(modules: Iterable[nn.Module]) -> list[tuple[str, nn.BatchNorm2d]]:
    out = []
    for j, mod in enumerate(modules):
        for name, m in mod.named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                out.append((f"{j}.{name}", m))
    return out


def _topk_correct(logits: torch.Tensor, y: torch.Tensor, ks: tuple[int, ...]) -> list[int]:
    maxk = min(max(ks), logits.shape[1])
    pred = logits.topk(maxk, 1, True, True).indices
    hit = pred.eq(y.view(-1, 1))
    return [int(hit[:, : min(k, maxk)].any(1).sum()) for k in ks]


class SubnetEvaluator:
    """Evaluates subnets of one supernet on fixed recalibration and validation batches.

    ``recal_data`` / ``val_data``: see :func:`as_batches`. ``bn_batches`` recalibration batches of
    ``bn_batch_size`` are used (when ``recal_data`` is a pair of tensors; a list or loader gives its
    own batch size). ``extra_sets`` names further evaluation sets (``{"test": (x, y)}``) that
    :meth:`evaluate` can use with ``split="test"``.
    """

    def __init__(
        self,
        model: ShuffleNetV2OneShot,
        recal_data: Any,
        val_data: Any,
        *,
        bn_batches: int = 200,
        bn_batch_size: int = 128,
        val_batch_size: int = 200,
        bn_momentum: float | None = None,
        device: str | torch.device = "cpu",
        extra_sets: dict[str, Any] | None = None,
    ) -> None:
        if bn_batches < 1:
            raise ValueError(f"BN recalibration needs at least one batch, got {bn_batches}")
        if bn_momentum is not None and not 0.0 < bn_momentum <= 1.0:
            raise ValueError(f"bn_momentum must be in (0, 1] or None (cumulative average), got {bn_momentum}")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.bn_momentum = bn_momentum
        self.recal = as_batches(recal_data, bn_batch_size, bn_batches)
        self.sets: dict[str, Any] = {"val": as_batches(val_data, val_batch_size)}
        for name, data in (extra_sets or {}).items():
            self.sets[name] = as_batches(data, val_batch_size)
        self.ledger = CostLedger()
        self.energy = EnergyMeter(self.device)
        self.ledger.energy_source = self.energy.source
        if self.energy.available:
            self.ledger.energy_j = 0.0

    # -- timing ------------------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def _timed(self, phase: str, acc: dict[str, float]) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            dt = time.perf_counter() - t0
            acc[phase] = acc.get(phase, 0.0) + dt

    def _to(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True)

    # -- BN recalibration --------------------------------------------------------------------
    def recalibrate(
        self,
        arch: Arch,
        prefix_len: int = 0,
        prefix_provider: PrefixProvider | None = None,
        acc: dict[str, float] | None = None,
    ) -> None:
        """Reset and re-estimate the BN statistics of ``arch``'s path on the recalibration batches."""
        acc = {} if acc is None else acc
        model, k = self.model, prefix_len
        use_cache = prefix_provider is not None and k > 0
        prefix = tuple(arch[:k])
        with self._timed("other", acc):
            pre_bns = _bns([model.first_conv] + [model.features[i][arch[i]] for i in range(k)])
            post_bns = _bns(
                [model.features[i][arch[i]] for i in range(k, model.n_blocks)] + [model.conv_last]
            )
            known = prefix_provider.bn_state(prefix) if use_cache else None
            to_reset = post_bns if known is not None else pre_bns + post_bns
            saved_momentum = {id(m): m.momentum for _, m in pre_bns + post_bns}
            for _, m in to_reset:
                m.reset_running_stats()
            for _, m in pre_bns + post_bns:
                m.momentum = self.bn_momentum
        model.train()
        try:
            with torch.no_grad():
                for i, (x, _) in enumerate(self.recal):

                    def compute(x: torch.Tensor = x) -> torch.Tensor:
                        return model.forward_prefix(self._to(x), arch, k)

                    with self._timed("recal_prefix", acc):
                        h = prefix_provider.features("recal", i, prefix, compute) if use_cache else compute()
                    with self._timed("recal_suffix", acc):
                        model.forward_suffix(self._to(h), arch, k, head=False)
        finally:
            model.eval()
            with self._timed("other", acc):
                for _, m in pre_bns + post_bns:
                    m.momentum = saved_momentum[id(m)]
                if use_cache:
                    if known is not None:  # undo any update by recomputed prefix batches
                        for name, m in pre_bns:
                            m.running_mean.copy_(known[f"{name}.running_mean"])
                            m.running_var.copy_(known[f"{name}.running_var"])
                            m.num_batches_tracked.copy_(known[f"{name}.num_batches_tracked"])
                    else:
                        state: dict[str, torch.Tensor] = {}
                        for name, m in pre_bns:
                            state[f"{name}.running_mean"] = m.running_mean.detach().clone()
                            state[f"{name}.running_var"] = m.running_var.detach().clone()
                            state[f"{name}.num_batches_tracked"] = m.num_batches_tracked.detach().clone()
                        prefix_provider.store_bn_state(prefix, state)

    # -- evaluation --------------------------------------------------------------------------
    def accuracy(
        self,
        arch: Arch,
        split: str = "val",
        prefix_len: int = 0,
        prefix_provider: PrefixProvider | None = None,
        acc: dict[str, float] | None = None,
        keep_logits: bool = False,
    ) -> tuple[float, float, int, torch.Tensor | None]:
        """Top-1, top-5 (%), n and optionally logits on ``split`` with the BN statistics as they are."""
        if split not in self.sets:
            raise ValueError(f"no {split!r} set in this evaluator; known: {', '.join(self.sets)}")
        acc = {} if acc is None else acc
        model, k = self.model, prefix_len
        use_cache = prefix_provider is not None and k > 0
        prefix = tuple(arch[:k])
        c1 = c5 = n = 0
        kept: list[torch.Tensor] = []
        model.eval()
        with torch.no_grad():
            for i, (x, y) in enumerate(self.sets[split]):

                def compute(x: torch.Tensor = x) -> torch.Tensor:
                    return model.forward_prefix(self._to(x), arch, k)

                with self._timed("val_prefix", acc):
                    h = prefix_provider.features(split, i, prefix, compute) if use_cache else compute()
                with self._timed("val_suffix", acc):
                    logits = model.forward_suffix(self._to(h), arch, k)
                    a1, a5 = _topk_correct(logits, self._to(y), (1, 5))
                c1, c5, n = c1 + a1, c5 + a5, n + int(y.shape[0])
                if keep_logits:
                    kept.append(logits.float().cpu())
        if n == 0:
            raise ValueError(f"the {split} set is empty")
        return 100.0 * c1 / n, 100.0 * c5 / n, n, (torch.cat(kept) if keep_logits else None)

    def evaluate(
        self,
        arch: Arch,
        prefix_len: int = 0,
        prefix_provider: PrefixProvider | None = None,
        split: str = "val",
        keep_logits: bool = False,
    ) -> SubnetResult:
        """BN recalibration then top-1/top-5 on ``split``; seconds and energy go to the ledger.

        ``prefix_len``/``prefix_provider``: see the module docstring. Without a provider the
        whole subnet is computed and ``prefix_len`` only changes where the split is timed.
        """
        arch = self.model.check_arch(arch)
        if not 0 <= prefix_len <= self.model.n_blocks:
            raise ValueError(f"prefix_len must be in 0..{self.model.n_blocks}, got {prefix_len}")
        acc: dict[str, float] = {}
        e0 = self.energy.read_j()
        self.recalibrate(arch, prefix_len, prefix_provider, acc)
        top1, top5, n, logits = self.accuracy(arch, split, prefix_len, prefix_provider, acc, keep_logits)
        e1 = self.energy.read_j()
        energy = (e1 - e0) if (e0 is not None and e1 is not None) else None
        for phase, s in acc.items():
            self.ledger.add(phase, s)
        self.ledger.n_evals += 1
        if energy is not None and self.ledger.energy_j is not None:
            self.ledger.energy_j += energy
        return SubnetResult(arch, top1, top5, n, acc, energy, logits)
