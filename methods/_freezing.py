"""Choice freezing of a shallow-block prefix (PCF-ES), shared by every method that freezes.

Used by PCF-ES / CF-ES (``methods/pcf_es.py``, SPOS evolution's generations) and REA+freeze
(``methods/rea_freeze.py``, aging evolution's windows of ``population_size`` evaluations). The rule,
as PCF-ES states it (see pcf_es.py for every reading of the paper):

- after each *generation* (a group of evaluated candidates), for each block the **majority share**:
  the fraction of the group that uses the block's most common choice (ties: the lowest choice id);
- a run of blocks ``a..b`` **passes** when its mean share is > ``T`` and more than a fraction ``R`` of
  its blocks are individually > ``T``;
- **initial freeze** (nothing frozen yet): the largest ``j <= min(N, max_at_once)`` such that blocks
  ``1..j`` pass; **progressive freeze** (``progressive``, after the first): the largest
  ``j <= min(f, N - k, max_at_once)`` such that blocks ``k+1..k+j`` pass; frozen blocks take the
  majority choice of that generation and always form a prefix;
- a frozen prefix for which no completion satisfies the space's constraint (e.g. a FLOPs limit,
  ``space.has_valid_completion``) raises ``ValueError``;
- the prefix is announced to the benchmark through ``hints() -> {"frozen_prefix": choices}`` (the
  supernet benchmark then reuses the prefix's cached features).

:class:`ChoiceFreezing` is a mixin holding that state. A class using it has the parameters
``threshold``, ``monitor_size``, ``block_ratio`` and ``max_at_once``, a class attribute
``progressive``, calls :meth:`ChoiceFreezing._check_freezing_params` and
:meth:`ChoiceFreezing._init_freezing` in ``_setup``, and :meth:`ChoiceFreezing._observe` with the
candidates of each finished generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, SearchSpace


def majority(archs: Sequence[Arch], n_blocks: int, n_choices: Sequence[int]) -> tuple[list[int], list[float]]:
    """Per block: the majority choice among ``archs`` and its share (ties: the lowest choice id)."""
    arr = np.asarray(archs, dtype=int)
    choices, shares = [], []
    for i in range(n_blocks):
        counts = np.bincount(arr[:, i], minlength=n_choices[i])
        c = int(np.argmax(counts))
        choices.append(c)
        shares.append(float(counts[c] / len(archs)))
    return choices, shares


def passes(shares: Sequence[float], threshold: float, ratio: float) -> bool:
    """A run of blocks passes: mean share > ``threshold`` and more than ``ratio`` of them > ``threshold``."""
    s = np.asarray(shares, dtype=float)
    return bool(len(s) and s.mean() > threshold and (s > threshold).mean() > ratio)


def freeze_stop(shares: Sequence[float], n_frozen: int, *, threshold: float, ratio: float, max_at_once: int,
                monitor_size: int, progressive: bool) -> int | None:
    """Where the frozen prefix ends after this generation (one past its last block), or None for no change.

    ``n_frozen == 0``: the initial test over blocks ``1..j``; otherwise, when ``progressive``, the
    progressive test over the next ``monitor_size`` blocks. Largest passing ``j`` first."""
    n = len(shares)
    k = int(n_frozen)
    if k == 0:
        for j in range(min(n, max_at_once), 0, -1):
            if passes(shares[:j], threshold, ratio):
                return j
    elif progressive and k < n and monitor_size > 0:
        for j in range(min(monitor_size, n - k, max_at_once), 0, -1):
            if passes(shares[k : k + j], threshold, ratio):
                return k + j
    return None


def check_prefix_fits(space: SearchSpace, prefix: Sequence[int]) -> None:
    """``ValueError`` when no completion of ``prefix`` satisfies the space's constraint."""
    if not space.has_valid_completion(prefix):
        raise ValueError(
            f"frozen prefix {tuple(prefix)} has no valid completion in space {space.name} (every "
            "completion breaks its constraint, e.g. the FLOPs limit): raise the limit or the threshold T"
        )


class ChoiceFreezing:
    """Mixin: the frozen prefix, the share history, the freeze events, the announcement."""

    space: SearchSpace
    threshold: float
    monitor_size: int
    block_ratio: float
    max_at_once: int
    progressive: bool = True

    def _check_freezing_params(self) -> None:
        if not 0.0 < float(self.threshold) <= 1.0:
            raise ValueError(f"threshold T must be in (0, 1], got {self.threshold}")
        if not 0.0 < float(self.block_ratio) <= 1.0:
            raise ValueError(f"block ratio R must be in (0, 1], got {self.block_ratio}")
        if int(self.monitor_size) < 0:
            raise ValueError(f"monitor size f must be >= 0, got {self.monitor_size}")
        if int(self.max_at_once) < 1:
            raise ValueError(f"max_at_once must be >= 1, got {self.max_at_once}")

    def _init_freezing(self) -> None:
        self.frozen: list[int] = []  # choices of blocks 0..k-1
        self.share_history: list[list[float]] = []
        self.freeze_events: list[tuple[int, int, int]] = []  # (generation, first block, last block)
        self.all_frozen_generation: int | None = None

    def _observe(self, archs: Sequence[Arch], generation: int) -> None:
        """The candidates of a finished generation: record the shares, freeze what passes."""
        if not archs:
            return
        n = len(self.space.choices)
        maj, shares = majority(archs, n, self.space.choices)
        self.share_history.append(shares)
        stop = freeze_stop(shares, len(self.frozen), threshold=self.threshold, ratio=self.block_ratio,
                           max_at_once=self.max_at_once, monitor_size=self.monitor_size,
                           progressive=self.progressive)
        if stop is not None:
            self._freeze(maj, len(self.frozen), stop, generation)

    def _freeze(self, maj: list[int], start: int, stop: int, generation: int) -> None:
        prefix = self.frozen + maj[start:stop]
        check_prefix_fits(self.space, prefix)
        self.frozen = prefix
        self.freeze_events.append((generation, start, stop - 1))
        if len(self.frozen) == len(self.space.choices):
            self.all_frozen_generation = generation

    def _apply(self, arch: Arch) -> Arch:
        """``arch`` with the frozen prefix in place of its first blocks."""
        return tuple(self.frozen) + tuple(arch[len(self.frozen):])

    def _all_frozen(self) -> bool:
        return len(self.frozen) == len(self.space.choices)

    def _freezing_info(self) -> dict[str, Any]:
        return {"n_frozen": len(self.frozen), "frozen": list(self.frozen),
                "shares": [round(x, 2) for x in (self.share_history[-1] if self.share_history else [])],
                "freeze_events": [list(e) for e in self.freeze_events],
                "all_frozen_generation": self.all_frozen_generation}

    def hints(self) -> dict[str, Any]:
        if not getattr(self, "is_setup", False) or not self.frozen:
            return {}
        return {"frozen_prefix": tuple(self.frozen)}
