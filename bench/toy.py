"""A tiny synthetic benchmark: instant, deterministic, for tests and for trying a method out.

Score of an architecture = 100 - squared distance to a hidden optimum (plus optional
Gaussian noise from the query rng); cost = 1 simulated second per unit of "size".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, Benchmark, Observation, SearchSpace


class ToySpace(SearchSpace):
    def __init__(self, n_decisions: int = 6, n_options: int = 5, max_sum: int | None = None) -> None:
        self.name = "toy"
        self.choices = (n_options,) * n_decisions
        self.max_sum = max_sum

    def is_valid(self, arch: Arch) -> bool:
        return self.in_range(arch) and (self.max_sum is None or sum(arch) <= self.max_sum)


class ToyBenchmark(Benchmark):
    def __init__(self, n_decisions: int = 6, n_options: int = 5, max_sum: int | None = None,
                 noise: float = 0.0, dataset: str = "toy") -> None:
        self.name = "toy"
        self.dataset = dataset
        self.space = ToySpace(n_decisions, n_options, max_sum)
        self.noise = noise
        self.optimum = np.arange(n_decisions) % n_options
        self.final_calls = 0

    def _value(self, arch: Arch) -> float:
        return float(100.0 - np.sum((np.asarray(arch) - self.optimum) ** 2))

    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        score = self._value(arch) + (self.noise * rng.standard_normal() if self.noise else 0.0)
        return Observation(score=score, cost_s=1.0 + sum(arch), cost_kind="train-simulated")

    def final(self, arch: Arch) -> dict[str, float]:
        self.final_calls += 1
        return {"val_acc": self._value(arch), "test_acc": self._value(arch) - 0.5}

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "toy", "dataset": self.dataset, "cost_model": "1 + sum(arch) simulated seconds"}


def make_toy(dataset: str = "toy", **options: Any) -> ToyBenchmark:
    return ToyBenchmark(dataset=dataset, **options)
