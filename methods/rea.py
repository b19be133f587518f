"""Regularized (aging) evolution, Real et al. 2019, Alg. 1, as NB201's ``R_EA.py``.

Semantics followed (AutoDL-Projects ``exps/NAS-Bench-201-algos/R_EA.py`` and
``scripts-search/NAS-Bench-201-algos/R-EA.sh``; shared/reference/rea_hparams.csv):

- defaults ``population_size=10``, ``sample_size=3`` (the NB201 paper's setting);
- the initial population is ``population_size`` uniformly random architectures (with
  replacement), each evaluated;
- each cycle draws ``sample_size`` members of the current population uniformly **with
  replacement** (``random.choice`` in a loop there; ``sample_with_replacement=False`` gives the
  zero-cost notebook's ``random.sample`` variant), the parent is the sample's best by score
  (the first such in draw order on ties, as ``max`` does), the child is the parent with one
  decision changed to a *different* option (``space.mutate``);
- aging: the child is appended and the oldest member removed;
- the recommended architecture is the best by score in the whole history (not only the
  final population), as ``max(history, key=accuracy)`` there.

Children are not de-duplicated against the history, as in the reference.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace
from nasrepro.bench.draws import sampler
from nasrepro.methods.base import Method, register


@register("rea")
class AgingEvolution(Method):
    """Aging evolution: tournament of ``sample_size`` in a population of ``population_size``."""

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        population_size: int = 10,
        sample_size: int = 3,
        sample_with_replacement: bool = True,
    ) -> None:
        super().__init__(space, rng)
        self.population_size = population_size
        self.sample_size = sample_size
        self.sample_with_replacement = sample_with_replacement

    def _setup(self) -> None:
        if int(self.population_size) < 1 or int(self.sample_size) < 1:
            raise ValueError(
                f"rea needs population_size >= 1 and sample_size >= 1, got "
                f"{self.population_size} and {self.sample_size}"
            )
        if not self.sample_with_replacement and self.sample_size > self.population_size:
            raise ValueError("rea: sample_size > population_size needs sample_with_replacement=True")
        self._population: deque[tuple[Arch, float]] = deque()
        self._n_initial = 0  # initial members asked so far
        self._seed_queue: list[Arch] = []  # initial members given by a warm start (_warm_start)

    # -- the loop --------------------------------------------------------------------
    def _initialising(self) -> bool:
        return self._n_initial < self.population_size

    def _parent(self) -> Arch:
        pop = self._population
        if self.sample_with_replacement:
            draw, n = sampler(self.rng), len(pop)  # = int(self.rng.integers(n)), without numpy's call overhead
            picks = [draw(n) for _ in range(self.sample_size)]
        else:
            picks = sorted(int(i) for i in self.rng.choice(len(pop), self.sample_size, replace=False))
        best, best_score = picks[0], pop[picks[0]][1]
        for i in picks[1:]:  # the first maximum in draw order, as max(picks, key=score) gives
            if pop[i][1] > best_score:
                best, best_score = i, pop[i][1]
        return pop[best][0]

    def _ask(self) -> Arch:
        if self._initialising():
            self._n_initial += 1
            return self._seed_queue.pop(0) if self._seed_queue else self.space.sample(self.rng)
        return self.space.mutate(self._parent(), self.rng)

    def _tell(self, arch: Arch, obs: Observation) -> None:
        self._population.append((arch, float(obs.score)))
        if len(self._population) > self.population_size:
            self._population.popleft()

    # -- hooks used by the zero-cost wrappers (methods/zero_cost.py) --------------------
    def propose(self, k: int) -> list[Arch]:
        """Candidates drawn the way ``ask`` draws them.

        While the initial population is filled: only the next initial member (the notebook's
        AE + move fills its population at random; the proxy guides mutations only). During
        evolution: one tournament, then ``k`` distinct mutations of its parent; when ``k``
        reaches the number of neighbours, all of them (the notebook's ``mutate_spec_zero_cost``
        looks at every one-edge neighbour).
        """
        self._ensure_setup()
        if self._initialising():
            return [self._ask()]
        parent = self._parent()
        neigh = self.space.neighbors(parent)
        if k >= len(neigh):
            return neigh
        out: list[Arch] = []
        seen: set[Arch] = set()
        tries = 0
        while len(out) < k and tries < 100 * k:
            child = self.space.mutate(parent, self.rng)
            tries += 1
            if child not in seen:
                seen.add(child)
                out.append(child)
        return out

    def _warm_start(self, archs: list[Arch], scores: list[float]) -> None:
        """Initial population from ``archs`` (best proxy first; the notebook's AE + warmup),
        topped up with random architectures when fewer than ``population_size`` are given."""
        self._seed_queue.extend(archs[: max(0, self.population_size - self._n_initial)])
