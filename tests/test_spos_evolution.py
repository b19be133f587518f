"""SPOS evolution (Algorithm 1 as the official search.py) on the FLOPs-constrained supernet space."""

from __future__ import annotations

import numpy as np
import pytest
from nasrepro.bench.core import Arch, Benchmark, Observation
from nasrepro.bench.runner import run_search
from nasrepro.bench.supernet.space import SupernetSpace
from nasrepro.methods.base import make_method


class _Additive(Benchmark):
    """Instant stand-in for a supernet: a fixed random additive score per (block, choice)."""

    name = "additive"

    def __init__(self) -> None:
        self.space = SupernetSpace("mnist-small")
        self.w = np.random.default_rng(123).normal(size=(10, 4))

    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        s = float(self.w[np.arange(10), list(arch)].sum())
        return Observation(score=s, cost_s=1.0, info={"top5": s})

    def final(self, arch: Arch) -> dict[str, float]:
        return {"test_acc": self.query(arch, np.random.default_rng(0)).score}


def test_generations_unique_valid_and_improving() -> None:
    bench = _Additive()
    res = run_search(bench, "spos-evolution", seed=0, budget="300evals")
    archs = [r.arch for r in res.records]
    assert len(archs) == len(set(archs)) == 300  # vis_dict: nothing asked twice
    space = bench.space
    assert all(space.is_valid(space.from_str(a)) for a in archs)
    gens = [r.extra["generation"] for r in res.records]
    assert gens == [g for g in range(6) for _ in range(50)]  # 50 candidates per generation
    scores = np.array([r.score for r in res.records]).reshape(6, 50)
    assert scores[5].mean() > scores[0].mean() + 1.0  # selection pressure works
    assert res.final["final_arch"] == res.records[-1].incumbent


def test_top_k_and_offspring_follow_official_rules() -> None:
    space = SupernetSpace("mnist-small")
    bench = _Additive()
    m = make_method("spos-evolution", space, np.random.default_rng(5))
    rng = np.random.default_rng(0)
    told = {}
    for _ in range(50):
        a = m.ask()
        told[a] = bench.query(a, rng).score
        m.tell(a, bench.query(a, rng))
    first_child = m.ask()  # builds generation 1 from the top-10 of generation 0
    best10 = sorted(told, key=told.get, reverse=True)[:10]
    assert m.top_k == best10
    gen1 = m.memory[1]
    assert len(gen1) == 50 and first_child == gen1[0]
    assert not set(gen1) & set(told)
    # mutants come first: each differs from some parent in few blocks
    hamming = [min(sum(x != y for x, y in zip(c, p)) for p in best10) for c in gen1[:25]]
    assert np.mean(hamming) < 3


def test_deterministic_and_bad_params() -> None:
    a = run_search(_Additive(), "spos-evolution", seed=3, budget="80evals")
    b = run_search(_Additive(), "spos-evolution", seed=3, budget="80evals")
    assert [r.arch for r in a.records] == [r.arch for r in b.records]
    space = SupernetSpace("mnist-small")
    for bad in ({"select_num": 0}, {"m_prob": 1.5}, {"mutation_num": 40, "crossover_num": 20}):
        m = make_method("spos-evolution", space, np.random.default_rng(0), **bad)
        with pytest.raises(ValueError, match="spos-evolution"):
            m.ask()
