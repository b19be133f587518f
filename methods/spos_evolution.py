"""SPOS evolutionary search (Guo et al., ECCV 2020, Algorithm 1), as the official ``src/Search/search.py``.

Semantics followed (megvii-model/SinglePathOneShot; shared/reference/spos_repo_defaults.csv):

- defaults ``population_num=50``, ``max_epochs=20`` generations, ``select_num=10`` parents,
  ``mutation_num=25`` with ``m_prob=0.1``, ``crossover_num=25``;
- generation 0 is ``population_num`` random *legal* candidates; every later generation is up to
  ``mutation_num`` mutants then up to ``crossover_num`` crossovers of the current top-``select_num``,
  filled up to ``population_num`` with random legal candidates;
- *legal* = never seen before (the official ``vis_dict``) and within the space's constraint (the
  FLOPs limit); illegal tries are discarded without evaluation, so **no architecture is asked twice**;
  mutation and crossover each give up after ``10 x`` their number of tries, as the official code;
- mutation: each block independently, with probability ``m_prob``, gets a uniformly random choice
  (which may equal the old one, as ``np.random.randint(nr_state)`` there); the parent is uniform
  over the top-k; crossover: two parents drawn independently and uniformly from the top-k (they
  may coincide), each block from either with probability 1/2;
- the top-k is the best ``select_num`` of (previous top-k + this generation) by validation top-1
  (higher is better; ties broken by top-5 when the benchmark reports ``info['top5']``, then by age,
  as the official sort by the ``(top1_err, top5_err)`` tuple with Python's stable sort);
- random candidates: ``space.sample`` (uniform, rejection under the constraint), as the official
  ``randint`` per block plus the legality check.

Ask/tell: a whole generation is built when the previous one has been told completely (the
official loop evaluates candidates as it builds them; since a generation's candidates only depend
on the top-k of earlier generations, the result is the same set). After ``max_epochs`` generations
the search goes on with more generations if the runner's budget allows. The official loop runs
``max_epochs`` times "update the top-k, then breed and evaluate the next generation", so it evaluates
the initial population plus ``max_epochs`` bred generations: 50 + 20 x 50 = **1050** candidates, and
``eval.py`` takes the best of all of them; use an evaluation budget of ``1050evals`` to match it
(``max_epochs`` itself is kept for reference and step logs, the runner's budget is what stops). When the space
is exhausted (no unseen legal architecture found in 10,000 random tries), the best architecture so
far is asked again rather than failing. ``recommend`` = best validation top-1 told (base class).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace
from nasrepro.methods.base import Method, register


@register("spos-evolution")
class SPOSEvolution(Method):
    """SPOS Algorithm 1: generational evolution with top-k parents, mutation, crossover, constraint."""

    conformance_space = "nasrepro.bench.supernet.space:mnist_small_space"

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
    ) -> None:
        super().__init__(space, rng)
        self.population_num = population_num
        self.max_epochs = max_epochs
        self.select_num = select_num
        self.mutation_num = mutation_num
        self.crossover_num = crossover_num
        self.m_prob = m_prob

    def _setup(self) -> None:
        ints = {
            "population_num": self.population_num,
            "max_epochs": self.max_epochs,
            "select_num": self.select_num,
        }
        for name, v in ints.items():
            if int(v) < 1:
                raise ValueError(f"spos-evolution: {name} must be >= 1, got {v}")
        if self.mutation_num < 0 or self.crossover_num < 0:
            raise ValueError("spos-evolution: mutation_num and crossover_num must be >= 0")
        if self.mutation_num + self.crossover_num > self.population_num:
            raise ValueError("spos-evolution: mutation_num + crossover_num must not exceed population_num")
        if not 0.0 <= self.m_prob <= 1.0:
            raise ValueError(f"spos-evolution: m_prob must be in [0, 1], got {self.m_prob}")
        self.vis: set[Arch] = set()  # every candidate ever generated (official vis_dict 'visited')
        self.scores: dict[Arch, tuple[float, float, int]] = {}  # arch -> (top1, top5, order told)
        self.top_k: list[Arch] = []
        self.epoch = 0  # generations built so far
        self._queue: list[Arch] = []  # this generation's candidates not yet asked
        self._generation: list[Arch] = []
        self._pending = 0  # asked, not yet told
        self.memory: list[list[Arch]] = []  # candidates of each generation (official 'memory')

    # -- candidate generation ------------------------------------------------------------------
    def _legal(self, arch: Arch) -> bool:
        if arch in self.vis:
            return False
        self.vis.add(arch)  # the official code marks a candidate visited once checked
        return self.space.is_valid(arch)

    def _random_fill(self, cands: list[Arch], num: int, max_tries: int = 10_000) -> None:
        tries = 0
        while len(cands) < num and tries < max_tries:
            tries += 1
            arch = tuple(int(a) for a in self.space.sample(self.rng))
            if arch not in self.vis:
                self.vis.add(arch)
                cands.append(arch)

    def _first_mutable(self) -> int:
        """Blocks before this index are never mutated (PCF-ES freezes a prefix); 0 here."""
        return 0

    def _mutation(self) -> list[Arch]:
        out: list[Arch] = []
        n = len(self.space.choices)
        for _ in range(self.mutation_num * 10):
            if len(out) >= self.mutation_num:
                break
            cand = list(self.top_k[int(self.rng.integers(len(self.top_k)))])
            for i in range(self._first_mutable(), n):
                if self.rng.random() < self.m_prob:
                    cand[i] = int(self.rng.integers(self.space.choices[i]))
            arch = tuple(cand)
            if self._legal(arch):
                out.append(arch)
        return out

    def _crossover(self) -> list[Arch]:
        out: list[Arch] = []
        for _ in range(self.crossover_num * 10):
            if len(out) >= self.crossover_num:
                break
            p1 = self.top_k[int(self.rng.integers(len(self.top_k)))]
            p2 = self.top_k[int(self.rng.integers(len(self.top_k)))]
            arch = tuple(int(a if self.rng.random() < 0.5 else b) for a, b in zip(p1, p2))
            if self._legal(arch):
                out.append(arch)
        return out

    def _next_generation(self) -> None:
        if self.epoch == 0 or not self.top_k:
            cands: list[Arch] = []
        else:
            cands = self._mutation() + self._crossover()
        self._random_fill(cands, self.population_num)
        self.epoch += 1
        self._generation = list(cands)
        self.memory.append(list(cands))
        self._queue = list(cands)

    def _update_top_k(self) -> None:
        pool = set(self.top_k) | {a for a in self._generation if a in self.scores}
        # best top-1 first, then top-5, then earliest told (stable, as the official sort)
        self.top_k = sorted(pool, key=lambda a: (-self.scores[a][0], -self.scores[a][1], self.scores[a][2]))[
            : self.select_num
        ]

    # -- ask / tell ----------------------------------------------------------------------------
    def _ask(self) -> Arch:
        if not self._queue and self._pending == 0:
            if self._generation:
                self._update_top_k()
            self._next_generation()
        if not self._queue:  # space exhausted, or asked again before all tells: re-ask the best / a sample
            if self.scores:
                return max(self.scores, key=lambda a: (self.scores[a][0], -self.scores[a][2]))
            return tuple(int(a) for a in self.space.sample(self.rng))
        self._pending += 1
        return self._queue.pop(0)

    def _tell(self, arch: Arch, obs: Observation) -> None:
        arch = tuple(int(a) for a in arch)
        if self._pending > 0 and arch in self._generation and arch not in self.scores:
            self._pending -= 1
        if arch not in self.scores:
            top5 = float(obs.info.get("top5", 0.0)) if isinstance(obs.info, dict) else 0.0
            self.scores[arch] = (float(obs.score), top5, len(self.scores))

    def step_info(self) -> dict[str, Any]:
        return {"generation": self.epoch - 1}
