"""PCF-ES and CF-ES: SPOS evolution with (progressive) choice freezing (ICLR 2023 submission).

No public code exists; this is our reading of the paper's Algorithm 1 (shared/reference/NOTES.md
section 5), with every open choice stated:

- Hyper-parameters of the evolution are exactly those of ``spos-evolution`` (population 50, 20
  generations, top-10 parents, 25 mutations with p=0.1 per block, 25 crossovers, FLOPs limit).
- After each generation, for each block the *majority share*: the fraction of the subnets that use
  the block's most common choice (ties: the lowest choice id), over ``share_over="generation"``
  (default, the paper's definition: "among all candidate subnets in a certain generation", i.e. the
  candidates of the generation just evaluated) or ``"top-k"`` (the top-K so far, K = ``select_num``,
  our earlier reading). Frozen blocks take that majority choice.
- A run of blocks ``a..b`` *passes* when its mean share is > ``T`` **and** more than a fraction ``R``
  of its blocks are individually > ``T``.
- **Initial freeze** (while nothing is frozen): scan ``j`` from ``min(N, max_at_once)`` down to 1 and
  freeze blocks ``1..j`` for the first ``j`` that passes. (Reading of "at most 8 at once": we scan only
  runs of at most 8 blocks, so the frozen run itself passed the test; capping a longer passing run
  to its first 8 could freeze blocks that did not agree.)
- **Progressive freeze** (``pcf-es`` only; ``cf-es`` freezes once and never again): after the
  initial freeze with ``k`` blocks frozen, each generation tests the next ``f`` blocks
  ``k+1..k+f`` the same way (largest passing ``j <= f`` first) and freezes them.
- Frozen blocks take the majority choice in every parent; mutation and crossover never touch them
  and random fills sample only the unfrozen blocks. The FLOPs limit still holds for every candidate
  (each is re-checked); a frozen prefix for which no completion fits the limit raises ``ValueError``
  (``space.has_valid_completion``; the supernet space answers from its FLOPs table).
- Frozen blocks always form a prefix, announced to the benchmark through the public hook
  ``hints() -> {"frozen_prefix": choices}`` (the runner forwards it to ``Benchmark.announce``), so a
  supernet evaluator can reuse the prefix's cached features.
- Stop (the paper's rule): when every block is frozen ``done()`` is true and the runner stops;
  otherwise the search ends like SPOS-ES, after ``max_epochs`` generations when the budget is
  ``population x generations`` evaluations. When the unfrozen blocks have no unseen legal candidate
  left (a 10-block supernet with 7 frozen has 64 tails), SPOS's fallback re-asks the best (the
  generation count stays), so every variant of a seed makes the same number of evaluations;
  ``stop_when_exhausted=True`` stops there instead (fewer evaluations: not the paper's rule).
- Telemetry, in every step record (``step_info``): ``generation``, ``n_frozen``, ``frozen`` (the
  frozen choices), ``shares`` (the last majority shares, per block, 2 decimals), ``freeze_events``
  ``[[generation, first_block, last_block], ...]`` (so far), ``all_frozen_generation`` and
  ``exhausted``.

The freezing rule (shares, pass test, initial and progressive freeze, prefix check, announcement) is
``methods/_freezing.py``, shared with ``rea+freeze`` (``methods/rea_freeze.py``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, SearchSpace
from nasrepro.methods._freezing import ChoiceFreezing, majority, passes
from nasrepro.methods.base import register
from nasrepro.methods.spos_evolution import SPOSEvolution

__all__ = ["CFES", "PCFES", "majority", "passes"]  # majority / passes live in methods/_freezing.py (shared)


@register("pcf-es")
class PCFES(ChoiceFreezing, SPOSEvolution):
    """PCF-ES: SPOS evolution that progressively freezes agreed shallow blocks (feature reuse)."""

    conformance_space = "nasrepro.bench.supernet.space:mnist_small_space"
    progressive = True

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_num: int = 50,
        max_epochs: int = 20,
        select_num: int = 10,
        mutation_num: int = 25,
        crossover_num: int = 25,
        m_prob: float = 0.1,
        threshold: float = 0.7,
        monitor_size: int = 3,
        block_ratio: float = 0.5,
        max_at_once: int = 8,
        share_over: str = "generation",
        stop_when_exhausted: bool = False,
    ) -> None:
        super().__init__(space, rng, population_num, max_epochs, select_num, mutation_num, crossover_num, m_prob)
        self.threshold = threshold
        self.monitor_size = monitor_size
        self.block_ratio = block_ratio
        self.max_at_once = max_at_once
        self.share_over = share_over
        self.stop_when_exhausted = stop_when_exhausted

    def _setup(self) -> None:
        self._check_freezing_params()
        if self.share_over not in ("generation", "top-k"):
            raise ValueError(f"share_over must be 'generation' or 'top-k', got {self.share_over!r}")
        super()._setup()
        self._init_freezing()  # frozen, share_history, freeze_events, all_frozen_generation
        self.exhausted = False

    # -- freezing (the rule itself: methods/_freezing.py, shared with rea+freeze) -------------
    def _update_top_k(self) -> None:
        super()._update_top_k()
        told = [a for a in self._generation if a in self.scores]
        self._observe(told if self.share_over == "generation" else self.top_k, self.epoch - 1)

    # -- generation with frozen blocks ------------------------------------------------------------
    def _next_generation(self) -> None:
        if self.exhausted:  # nothing unseen is left: SPOS's fallback re-asks the best, same generation
            return
        if not self.frozen:
            super()._next_generation()
        else:
            scored = self.top_k
            self.top_k = list(dict.fromkeys(self._apply(a) for a in scored))  # parents take the majority
            try:
                super()._next_generation()
            finally:
                self.top_k = scored
        self.exhausted = not self._queue

    def _first_mutable(self) -> int:
        return len(self.frozen)

    def _random_fill(self, cands: list[Arch], num: int, max_tries: int = 10_000) -> None:
        if not self.frozen:
            return super()._random_fill(cands, num, max_tries)
        k = len(self.frozen)
        tail_choices = self.space.choices[k:]
        if int(np.prod(tail_choices, dtype=np.int64)) <= 4096:
            # few unfrozen blocks: enumerate the unseen tails and draw among them (no wasted tries)
            tails = [t for t in itertools.product(*(range(c) for c in tail_choices))
                     if tuple(self.frozen) + t not in self.vis]
            draws = (tails[i] for i in self.rng.permutation(len(tails)))
        else:
            block = self.rng.integers(0, np.asarray(tail_choices), size=(max_tries, len(tail_choices)))
            draws = (tuple(int(c) for c in row) for row in block)
        for tail in draws:
            if len(cands) >= num:
                break
            arch = tuple(self.frozen) + tuple(tail)
            if arch not in self.vis:
                self.vis.add(arch)
                if self.space.is_valid(arch):
                    cands.append(arch)

    # -- protocol extras ----------------------------------------------------------------------------
    def done(self) -> bool:
        """Converged: this generation fully told and every block frozen (the paper's stop) or, with
        ``stop_when_exhausted``, the unfrozen blocks offer no unseen legal candidate."""
        if not self.is_setup or self._queue or self._pending:
            return False
        if len(self.frozen) == len(self.space.choices):
            return True
        if self._generation and not self.exhausted:  # build the next generation now, as ask would
            self._update_top_k()
            self._next_generation()
            if len(self.frozen) == len(self.space.choices):
                return True
        return self.exhausted and bool(self.stop_when_exhausted)

    def step_info(self) -> dict[str, Any]:
        info = super().step_info()
        if not getattr(self, "_is_setup", False):
            return info
        info.update(**self._freezing_info(), exhausted=self.exhausted)
        return info


@register("cf-es")
class CFES(PCFES):
    """CF-ES: one choice freeze of agreed shallow blocks, no progression (ablation of PCF-ES)."""

    progressive = False
