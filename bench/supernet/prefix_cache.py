"""Byte-budgeted cache of a frozen prefix's features, for PCF-ES feature reuse.

Implements the :class:`bench.supernet.evaluator.PrefixProvider` contract. It holds the
features of ONE prefix (the one the method announced last): the output of the stem and the
frozen blocks for every recalibration batch (train-mode outputs) and every validation batch
(eval-mode outputs), plus the prefix's recalibrated BN statistics. The supernet's BNs have no
affine parameters, so those statistics depend only on the prefix choices and the fixed
recalibration batches: computing them once and reusing them is exact.

Memory: features go to the evaluation device first while ``device_budget_bytes`` allows, then to
host memory while the total ``budget_bytes`` allows; past that a batch is *recomputed* every
time it is needed (honestly charged to the ledger by the evaluator). Announcing a different
prefix (the frozen prefix grew) invalidates everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from nasrepro.bench.core import Arch


def parse_cache_mb(value: object) -> float:
    """``--cache-mb`` as a non-negative number of MiB; anything else is a one-line error."""
    try:
        mb = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"--cache-mb must be a number of MiB (e.g. 512), got {value!r}") from None
    if not mb >= 0 or mb == float("inf"):
        raise ValueError(f"--cache-mb must be a finite number >= 0, got {value!r}")
    return mb


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    recomputed: int = 0  # misses that could not be stored (over budget)
    invalidations: int = 0
    bytes_device: int = 0
    bytes_host: int = 0
    peak_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class PrefixCache:
    """Features and BN state of the current frozen prefix, within a byte budget."""

    def __init__(self, budget_bytes: int, device: str | torch.device = "cpu",
                 device_budget_bytes: int | None = None) -> None:
        if budget_bytes < 0:
            raise ValueError(f"cache budget must be >= 0 bytes, got {budget_bytes}")
        self.budget_bytes = int(budget_bytes)
        self.device = torch.device(device)
        # on a CPU device, device and host are the same memory: one tier
        self.device_budget_bytes = int(budget_bytes if device_budget_bytes is None else device_budget_bytes)
        self.prefix: Arch | None = None
        self._feats: dict[tuple[str, int], torch.Tensor] = {}
        self._bn: dict[str, torch.Tensor] | None = None
        self.stats = CacheStats()

    @classmethod
    def from_mb(cls, cache_mb: object, device: str | torch.device = "cpu") -> PrefixCache:
        return cls(int(parse_cache_mb(cache_mb) * 2**20), device)

    # -- bookkeeping ----------------------------------------------------------------------
    @property
    def bytes_used(self) -> int:
        return self.stats.bytes_device + self.stats.bytes_host

    def set_prefix(self, prefix: Arch) -> None:
        """Announce the frozen prefix; a different one drops every cached tensor."""
        prefix = tuple(int(c) for c in prefix)
        if prefix != self.prefix:
            if self.prefix is not None:
                self.stats.invalidations += 1
            self._feats.clear()
            self._bn = None
            self.stats.bytes_device = self.stats.bytes_host = 0
            self.prefix = prefix

    def reset(self) -> None:
        """Drop everything and zero the statistics (a new run starts)."""
        self._feats.clear()
        self._bn = None
        self.prefix = None
        self.stats = CacheStats()

    def _check(self, prefix: Arch) -> bool:
        return self.prefix is not None and tuple(prefix) == self.prefix

    # -- PrefixProvider -------------------------------------------------------------------
    def features(self, phase: str, batch_index: int, prefix: Arch,
                 compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        key = (phase, batch_index)
        if self._check(prefix) and key in self._feats:
            self.stats.hits += 1
            return self._feats[key]
        self.stats.misses += 1
        out = compute()
        if not self._check(prefix):  # not the announced prefix: never store
            self.stats.recomputed += 1
            return out
        nbytes = out.element_size() * out.nelement()
        if self.bytes_used + nbytes > self.budget_bytes:
            self.stats.recomputed += 1
            return out
        if self.device.type != "cpu" and self.stats.bytes_device + nbytes > self.device_budget_bytes:
            self._feats[key] = out.detach().to("cpu")  # spill to host; moved back by the evaluator
            self.stats.bytes_host += nbytes
        else:
            self._feats[key] = out.detach()
            self.stats.bytes_device += nbytes
        self.stats.peak_bytes = max(self.stats.peak_bytes, self.bytes_used)
        return self._feats[key]

    def bn_state(self, prefix: Arch) -> dict[str, torch.Tensor] | None:
        return self._bn if self._check(prefix) else None

    def store_bn_state(self, prefix: Arch, state: dict[str, torch.Tensor]) -> None:
        if self._check(prefix):
            self._bn = state
