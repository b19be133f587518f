"""Predictor-based search (BP): the predictor ranks, the search exploits it, runs are cheap."""

from __future__ import annotations

import time

import numpy as np
from nasrepro.bench.core import Observation
from nasrepro.methods.bp import BinaryPredictorSearch
from nasrepro.methods.random_search import RandomSearch
from nasrepro.methods.testing import SyntheticBenchmark, SyntheticSpace, drive
from scipy.stats import spearmanr


def _all_archs(space: SyntheticSpace) -> np.ndarray:
    return np.array(np.meshgrid(*[range(c) for c in space.choices], indexing="ij")).reshape(len(space.choices), -1).T


def test_predictor_learns_the_ranking() -> None:
    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    m = BinaryPredictorSearch(space, np.random.default_rng(0), n_init=60)
    drive(m, bench, 60)  # all random: a plain training set
    m._train(np.stack(m._X), np.asarray(m._y), 300)
    A = _all_archs(space)
    rho = spearmanr(m.predict(m._encode(A)), [bench.value(tuple(a)) for a in A]).statistic
    assert rho > 0.6


def test_bp_never_repeats_and_beats_random_search() -> None:
    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    bp_best, rs_best = [], []
    t0 = time.perf_counter()
    for seed in range(4):
        run = drive(BinaryPredictorSearch(space, np.random.default_rng(seed), n_candidates=15625), bench, 40)
        assert len({a for a, _ in run}) == 40
        bp_best.append(max(s for _, s in run))
        rs_best.append(max(s for _, s in drive(RandomSearch(space, np.random.default_rng(seed)), bench, 40)))
    assert np.mean(bp_best) > np.mean(rs_best)
    assert time.perf_counter() - t0 < 30


def test_whole_space_is_ranked_when_small_enough() -> None:
    space = SyntheticSpace()
    m = BinaryPredictorSearch(space, np.random.default_rng(0), n_candidates=15625)
    m.ask()
    assert m._all is not None and len(m._all) == 15625
    m = BinaryPredictorSearch(space, np.random.default_rng(0))  # default 2000: random candidates
    m.ask()
    assert m._all is None


def test_warm_start_with_a_perfect_proxy_asks_a_top_arch_first() -> None:
    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    A = [tuple(int(c) for c in a) for a in _all_archs(space)]
    values = np.array([bench.value(a) for a in A])
    m = BinaryPredictorSearch(space, np.random.default_rng(0), n_candidates=15625, pretrain_steps=100)
    m.warm_start(A, list(values))
    first = m.ask()
    assert bench.value(first) >= np.quantile(values, 0.99)
    m.tell(first, Observation(bench.value(first), 1.0))
    assert len(m.propose(3)) == 3 and first not in m.propose(3)


def test_nonfinite_proxy_scores_are_dropped_in_warm_start() -> None:
    space = SyntheticSpace()
    m = BinaryPredictorSearch(space, np.random.default_rng(0))
    m.warm_start([(0,) * 6, (1,) * 6, (2,) * 6], [float("nan"), 1.0, 2.0])
    assert m._warm
