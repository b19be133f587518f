"""REA+freeze: aging evolution (``rea``) with PCF-ES's progressive choice freezing of a block prefix.

Aging evolution has no generations; we read PCF-ES's rule (``methods/_freezing.py``, the paper's
"among all candidate subnets in a certain generation") over *windows*:

- every ``population_size`` (P) evaluations told form a **generation** (window 0 = the first P: the
  initial population; window ``w`` = evaluations ``wP .. (w+1)P - 1``). Every evaluation told counts,
  in order, repeats included (REA does not de-duplicate), and so do told architectures the method did
  not ask (a warm start's, a wrapper's);
- after each window: each block's majority share over the window's candidates, then PCF-ES's
  initial freeze (largest passing run of blocks ``1..j``, ``j <= max_at_once``) and, once something
  is frozen, its progressive freeze (the next ``monitor_size`` blocks; ``monitor_size=0``: freeze
  once, as CF-ES). Same defaults as ``pcf-es``: T = 0.7, f = 3, R = 0.5, at most 8 at once;
- from the next ask on, every candidate carries the frozen prefix: the tournament parent takes the
  majority choices in its frozen blocks (as PCF-ES's parents do) and the child changes **one unfrozen**
  block to a different option (aging evolution's one-decision mutation, restricted to the tail); a
  child that breaks the space's constraint is redrawn (up to 1,000 tries, as ``space.mutate``), then
  a random valid completion of the prefix is taken. Initial members still to ask after a freeze (a
  freeze during initialisation needs told architectures it did not ask) are random completions of
  the prefix (a warm-start member keeps its tail when that is valid). The FLOPs limit (any
  constraint) is checked when a block freezes: ``space.has_valid_completion``, else ``ValueError``;
- the prefix is announced with ``hints() -> {"frozen_prefix": ...}``, so the supernet benchmark
  reuses the prefix's cached features (``--cache-mb``);
- stop (PCF-ES's rule): when every block is frozen there is one architecture left and ``done()`` is
  true (the runner stops early); otherwise the run makes the budget's evaluations;
- ``propose(k)`` (the zero-cost ``move`` wrapper) draws as ``ask`` does, tail mutations only;
- telemetry in every step record: ``generation`` (the window of this evaluation), ``n_frozen``,
  ``frozen``, ``shares`` (the last window's, per block), ``freeze_events``
  ``[[generation, first_block, last_block], ...]`` and ``all_frozen_generation``.

Until the first freeze, the trajectory is ``rea``'s exactly (same draws from the same stream).

A registered method of its own, not parameters of ``rea``: a run's identity holds the method's
resolved parameters, so new parameters on ``rea`` (even off by default) would turn every recorded
``rea`` run stale.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace
from nasrepro.methods._freezing import ChoiceFreezing
from nasrepro.methods.base import register
from nasrepro.methods.rea import AgingEvolution


@register("rea+freeze")
class FreezingAgingEvolution(ChoiceFreezing, AgingEvolution):
    """Aging evolution that freezes agreed shallow blocks after each window of P evaluations."""

    conformance_space = "nasrepro.bench.supernet.space:mnist_small_space"
    progressive = True

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_size: int = 10,
        sample_size: int = 3,
        sample_with_replacement: bool = True,
        threshold: float = 0.7,
        monitor_size: int = 3,
        block_ratio: float = 0.5,
        max_at_once: int = 8,
    ) -> None:
        super().__init__(space, rng, population_size, sample_size, sample_with_replacement)
        self.threshold = threshold
        self.monitor_size = monitor_size
        self.block_ratio = block_ratio
        self.max_at_once = max_at_once

    def _setup(self) -> None:
        self._check_freezing_params()
        super()._setup()
        self._init_freezing()
        self._window: list[Arch] = []  # evaluations told in the current window
        self._n_told = 0

    # -- windows ---------------------------------------------------------------------------
    def _tell(self, arch: Arch, obs: Observation) -> None:
        super()._tell(arch, obs)
        self._window.append(tuple(int(c) for c in arch))
        self._n_told += 1
        if len(self._window) >= int(self.population_size):
            if not self._all_frozen():
                self._observe(self._window, self._n_told // int(self.population_size) - 1)
            self._window = []

    # -- candidates with a frozen prefix ------------------------------------------------------
    def _completion(self, max_tries: int = 10_000) -> Arch:
        """A uniformly random valid completion of the frozen prefix (rejection, then enumeration)."""
        k, choices = len(self.frozen), self.space.choices
        head = tuple(self.frozen)
        for _ in range(max_tries):
            arch = head + tuple(int(self.rng.integers(c)) for c in choices[k:])
            if self.space.is_valid(arch):
                return arch
        if int(np.prod(choices[k:], dtype=np.int64)) <= self.space.enumerate_limit:
            valid = [head + t for t in itertools.product(*(range(c) for c in choices[k:]))
                     if self.space.is_valid(head + t)]
            if valid:
                return valid[int(self.rng.integers(len(valid)))]
        raise RuntimeError(f"no valid completion of the frozen prefix {head} found in space {self.space.name}")

    def _mutate_tail(self, parent: Arch, max_tries: int = 1_000) -> Arch:
        """``parent`` with one unfrozen block changed to a different option (``space.mutate`` on the tail)."""
        k, choices = len(self.frozen), self.space.choices
        n = len(choices)
        for _ in range(max_tries):
            i = k + int(self.rng.integers(n - k))
            if choices[i] < 2:
                continue
            new = int(self.rng.integers(choices[i] - 1))
            new += new >= parent[i]
            child = parent[:i] + (new,) + parent[i + 1:]
            if self.space.is_valid(child):
                return child
        return self._completion()

    def _tail_neighbors(self, parent: Arch) -> list[Arch]:
        k = len(self.frozen)
        return [a for a in self.space.neighbors(parent) if a[:k] == parent[:k]]

    def _ask(self) -> Arch:
        if not self.frozen:
            return super()._ask()
        if self._all_frozen():
            return tuple(self.frozen)
        if self._initialising():
            self._n_initial += 1
            if self._seed_queue:
                seed = self._apply(self._seed_queue.pop(0))
                if self.space.is_valid(seed):
                    return seed
            return self._completion()
        return self._mutate_tail(self._apply(self._parent()))

    def propose(self, k: int) -> list[Arch]:
        """As ``rea``'s, with the frozen prefix: the parent takes it, its neighbours change the tail only."""
        self._ensure_setup()
        if not self.frozen:
            return super().propose(k)
        if self._initialising() or self._all_frozen():
            return [self._ask()]
        parent = self._apply(self._parent())
        neigh = self._tail_neighbors(parent)
        if k >= len(neigh):
            return neigh or [self._completion()]
        out: list[Arch] = []
        seen: set[Arch] = set()
        tries = 0
        while len(out) < k and tries < 100 * k:
            child = self._mutate_tail(parent)
            tries += 1
            if child not in seen:
                seen.add(child)
                out.append(child)
        return out

    # -- protocol extras ----------------------------------------------------------------------
    def done(self) -> bool:
        """Every block frozen: one architecture is left (PCF-ES's stop)."""
        return self.is_setup and self._all_frozen()

    def step_info(self) -> dict[str, Any]:
        if not self.is_setup:
            return {}
        generation = (self._n_told - 1) // int(self.population_size) if self._n_told else 0
        return {"generation": generation, **self._freezing_info()}
