"""Aging evolution follows NB201's R_EA.py semantics (and random search its RANDOM.py)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from nasrepro.bench.core import Observation
from nasrepro.methods.random_search import RandomSearch
from nasrepro.methods.rea import AgingEvolution
from nasrepro.methods.testing import SyntheticBenchmark, SyntheticSpace, drive


def reference_rea(space, rng, value, n_evals, P=10, S=3):  # noqa: ANN001, ANN201
    """Independent transcription of R_EA.regularized_evolution's loop on our rng stream."""
    population, history = deque(), []
    while len(population) < P and len(history) < n_evals:
        arch = space.sample(rng)
        population.append((arch, value(arch)))
        history.append(arch)
    while len(history) < n_evals:
        sample = [population[int(rng.integers(len(population)))] for _ in range(S)]
        parent = max(sample, key=lambda m: m[1])
        child = space.mutate(parent[0], rng)
        population.append((child, value(child)))
        history.append(child)
        population.popleft()
    return history


def test_rea_matches_reference_transcription() -> None:
    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    ours = [a for a, _ in drive(AgingEvolution(space, np.random.default_rng(3)), bench, 80)]
    ref = reference_rea(space, np.random.default_rng(3), bench.value, 80)
    assert ours == ref


def test_rea_defaults_are_nb201s() -> None:
    m = AgingEvolution(SyntheticSpace(), np.random.default_rng(0))
    assert (m.population_size, m.sample_size, m.sample_with_replacement) == (10, 3, True)


def test_rea_children_are_one_edge_mutations_of_population_members() -> None:
    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    m = AgingEvolution(space, np.random.default_rng(1), population_size=5, sample_size=2)
    told = []
    for step in range(40):
        pop_before = [a for a, _ in m._population] if step else []
        arch = m.ask()
        if step >= 5:
            assert any(sum(x != y for x, y in zip(arch, p)) == 1 for p in pop_before)
        m.tell(arch, Observation(bench.value(arch), 1.0))
        told.append(arch)
        assert len(m._population) == min(step + 1, 5)
        assert [a for a, _ in m._population] == told[-5:]  # aging: oldest out


def test_rea_recommends_best_of_whole_history() -> None:
    space = SyntheticSpace()
    m = AgingEvolution(space, np.random.default_rng(0), population_size=2, sample_size=1)
    scores = [99.0] + [1.0] * 10  # the first one ages out quickly
    for s in scores:
        a = m.ask()
        m.tell(a, Observation(s, 1.0))
        if s == 99.0:
            best = a
    assert m.recommend() == best
    assert best not in [a for a, _ in m._population]


def test_rea_without_replacement_and_bad_params() -> None:
    space = SyntheticSpace()
    drive(AgingEvolution(space, np.random.default_rng(0), 8, 8, sample_with_replacement=False),
          SyntheticBenchmark(space), 30)
    with pytest.raises(ValueError, match="sample_size"):
        AgingEvolution(space, np.random.default_rng(0), 3, 5, sample_with_replacement=False).ask()
    with pytest.raises(ValueError, match="population_size"):
        AgingEvolution(space, np.random.default_rng(0), 0).ask()


def test_rea_beats_random_search_on_average() -> None:
    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    best = {"rea": [], "random": []}
    for seed in range(15):
        for name, cls in (("rea", AgingEvolution), ("random", RandomSearch)):
            best[name].append(max(s for _, s in drive(cls(space, np.random.default_rng(seed)), bench, 100)))
    assert np.mean(best["rea"]) > np.mean(best["random"])


def test_rea_warm_start_and_propose() -> None:
    space = SyntheticSpace()
    m = AgingEvolution(space, np.random.default_rng(0), population_size=3)
    seeds = [(1,) * 6, (2,) * 6]
    m.warm_start(seeds, [2.0, 1.0])
    asked = []
    for _ in range(3):
        a = m.ask()
        asked.append(a)
        m.tell(a, Observation(1.0, 1.0))
    assert asked[:2] == seeds  # initial population from the pool, then random
    neigh = m.propose(100)
    assert len(neigh) == 24 and len(set(neigh)) == 24  # all one-edge neighbours of the parent
    some = m.propose(5)
    assert len(set(some)) == 5


def test_random_search_samples_with_replacement_and_warm_queue() -> None:
    space = SyntheticSpace((2, 2))
    m = RandomSearch(space, np.random.default_rng(0))
    asked = [a for a, _ in drive(m, SyntheticBenchmark(space), 20)]
    assert len(set(asked)) <= 4 < len(asked)  # repeats happen, as in NB201's RANDOM.py
    m = RandomSearch(SyntheticSpace(), np.random.default_rng(0))
    m.warm_start([(4,) * 6, (3,) * 6], [2.0, 1.0])
    assert m.ask() == (4,) * 6
    assert m.propose(3)[0] == (3,) * 6
