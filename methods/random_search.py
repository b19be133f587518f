"""Random search, as the NB201 baseline ``RANDOM`` (AutoDL-Projects ``exps/NAS-Bench-201-algos/RANDOM.py``).

Semantics followed (read from the reference code):

- every step draws a fresh architecture uniformly at random from the space (``random_arch()``:
  one uniform op per edge), **with replacement**: an architecture may be drawn, and paid
  for, again, exactly as in the reference loop, which keeps no "seen" set;
- the reported architecture is the best by the search signal (validation score) over all
  evaluated ones, ties going to the first one seen (``best_acc < accuracy`` there).

Under a constraint (``space.is_valid``) ``space.sample`` rejection-samples, i.e. draws uniformly
from the valid architectures.
"""

from __future__ import annotations

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace
from nasrepro.methods.base import Method, register


@register("random")
class RandomSearch(Method):
    """Uniform random sampling with replacement; recommends the best validation score seen."""

    def __init__(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().__init__(space, rng)

    def _ask(self) -> Arch:
        return self.space.sample(self.rng)

    def _tell(self, arch: Arch, obs: Observation) -> None:
        pass

    # -- hooks used by the zero-cost wrappers (methods/zero_cost.py) --------------------
    # warm_start: the base class's queue (the notebook's RAND + warmup: the proxy-sorted pool is
    # trained first, in order, then sampling goes on at random).
    def propose(self, k: int) -> list[Arch]:
        """``k`` candidates drawn the way ``ask`` draws (the next warm-start one first, if any)."""
        queued = self._pop_queued()
        first = [queued] if queued is not None else []
        return first + [self.space.sample(self.rng) for _ in range(k - len(first))]
