"""Zero-cost warmup and move proposal wrappers, for every method that has the hooks and others."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from nasrepro.bench.core import Observation
from nasrepro.bench.runner import run_search
from nasrepro.methods.base import make_method
from nasrepro.methods.random_search import RandomSearch
from nasrepro.methods.rea import AgingEvolution
from nasrepro.methods.testing import CHECKS, Case, SyntheticBenchmark, SyntheticSpace, drive, make_synthetic
from nasrepro.methods.zero_cost import TableScorer, ZeroCostMove, ZeroCostWarmup, move, warmup

SPACE = SyntheticSpace()
BENCH = SyntheticBenchmark(SPACE)


class PerfectProxy:
    """The benchmark's own value (a proxy with Spearman 1) and a fixed cost per call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, arch):  # noqa: ANN001, ANN204
        self.calls += 1
        return BENCH.value(arch)

    def seconds(self, arch) -> float:  # noqa: ANN001
        return 0.5


def test_warmup_of_whole_space_makes_random_search_ask_the_best_first() -> None:
    proxy = PerfectProxy()
    m = ZeroCostWarmup(RandomSearch(SPACE, np.random.default_rng(0)), proxy, 15625, pool_size=None)
    first = m.ask()
    best = max(SPACE.sample_distinct(15625, np.random.default_rng(0)), key=BENCH.value)
    assert first == best
    info = m.step_info()
    assert info["proxy_calls"] == 15625 == proxy.calls and info["proxy_cost_s"] == pytest.approx(7812.5)


def test_warmup_seeds_rea_population_with_top_pool() -> None:
    proxy = PerfectProxy()
    inner = AgingEvolution(SPACE, np.random.default_rng(0), population_size=8)
    m = ZeroCostWarmup(inner, proxy, 500, pool_size=8)
    asked = [m.ask() for _ in range(1)]
    m.tell(asked[0], Observation(BENCH.value(asked[0]), 1.0))
    for _ in range(7):
        a = m.ask()
        asked.append(a)
        m.tell(a, Observation(BENCH.value(a), 1.0))
    values = sorted((proxy(a) for a in asked), reverse=True)
    assert [BENCH.value(a) for a in asked] == values  # proxy order, best first
    assert len(set(asked)) == 8


def test_move_with_perfect_proxy_picks_the_best_candidate() -> None:
    inner = RandomSearch(SPACE, np.random.default_rng(0))
    m = ZeroCostMove(inner, PerfectProxy(), n_candidates=50, p_best=1.0)
    plain = drive(RandomSearch(SPACE, np.random.default_rng(0)), BENCH, 20)
    moved = drive(m, BENCH, 20)
    assert np.mean([s for _, s in moved]) > np.mean([s for _, s in plain]) + 1.0
    assert m.step_info()["proxy_calls"] <= 20 * 50


def test_move_on_rea_considers_all_neighbours() -> None:
    proxy = PerfectProxy()
    inner = AgingEvolution(SPACE, np.random.default_rng(0), population_size=3, sample_size=2)
    m = ZeroCostMove(inner, proxy, n_candidates=1000, p_best=1.0)
    for _ in range(3):
        a = m.ask()
        m.tell(a, Observation(BENCH.value(a), 1.0))
    child = m.ask()
    parents = [a for a, _ in inner._population]
    # the child is the best neighbour of one of the population members
    assert any(child == max(SPACE.neighbors(p), key=BENCH.value) for p in parents)


def test_nonfinite_proxy_ranks_last_and_is_counted() -> None:
    def proxy(arch):  # noqa: ANN001, ANN202
        return float("nan") if arch[0] == 4 else float(sum(arch))

    m = ZeroCostWarmup(RandomSearch(SPACE, np.random.default_rng(0)), proxy, 15625, pool_size=None)
    asked = [m.ask() for _ in range(5)]
    assert all(a[0] != 4 for a in asked)
    assert m.step_info()["proxy_nonfinite"] == 3125
    assert not math.isnan(sum(proxy(a) for a in asked))


@pytest.mark.parametrize("name", ["random", "rea", "reinforce", "bp"])
@pytest.mark.parametrize("kind", ["warmup", "move"])
def test_wrapped_methods_pass_conformance(name: str, kind: str) -> None:
    wrap = warmup(PerfectProxy(), 200, 16) if kind == "warmup" else move(PerfectProxy(), 8)
    case = Case(name, wrap=wrap)
    for check in ("valid_archs", "recommend_told", "deterministic", "no_test_access", "constrained_space",
                  "budget_runner"):
        CHECKS[check](case)


def test_fallback_hooks_for_a_method_without_them() -> None:
    from nasrepro.methods.base import Method

    class Plain(Method):
        def _ask(self):  # noqa: ANN202
            return self.space.sample(self.rng)

    m = ZeroCostWarmup(Plain(SPACE, np.random.default_rng(0)), PerfectProxy(), 100, pool_size=3)
    drive(m, BENCH, 10)
    # move needs a propose hook: asking one arch and telling another left PPO and SPOS-ES waiting forever
    m = ZeroCostMove(Plain(SPACE, np.random.default_rng(0)), PerfectProxy(), 5)
    with pytest.raises(ValueError, match="propose"):
        drive(m, BENCH, 10)


def test_wrapper_init_stores_only_params() -> None:
    inner = RandomSearch(SPACE, np.random.default_rng(0))
    proxy = PerfectProxy()
    m = ZeroCostWarmup(inner, proxy, 10)
    assert set(vars(m)) == {"inner", "scorer", "n_warmup", "pool_size", "space", "rng"} and proxy.calls == 0
    m = ZeroCostMove(inner, proxy, 4)
    assert set(vars(m)) == {"inner", "scorer", "n_candidates", "p_best", "space", "rng"}


def test_runner_logs_proxy_cost_apart_from_training_cost() -> None:
    bench = make_synthetic()
    bench.unlock()
    res = run_search(bench, "rea", 0, "20evals", wrap=warmup(PerfectProxy(), 100, 10))
    assert res.records[-1].extra["proxy_cost_s"] == pytest.approx(50.0)
    assert res.cost_s == pytest.approx(sum(r.cost_s for r in res.records))  # training cost only


def test_table_scorer_from_csv(tmp_path) -> None:  # noqa: ANN001
    from nasrepro.bench.nb201.space import NB201Space, index_to_arch

    space = NB201Space()
    df = pd.DataFrame({"index": [0, 1, 2], "synflow": [3.0, 1.0, 2.0], "seconds": [0.1, 0.2, 0.3]})
    df.to_csv(tmp_path / "scores.csv", index=False)
    sc = TableScorer.from_csv(tmp_path / "scores.csv", "synflow", space)
    assert sc(index_to_arch(0)) == 3.0 and sc.seconds(index_to_arch(2)) == 0.3
    with pytest.raises(ValueError, match="no cached synflow"):
        sc(index_to_arch(5))
    with pytest.raises(ValueError, match="no column 'snip'"):
        TableScorer.from_csv(tmp_path / "scores.csv", "snip", space)
    with pytest.raises(FileNotFoundError, match="nasrepro correlate"):
        TableScorer.from_csv(tmp_path / "missing.csv", "synflow", space)
    pd.DataFrame({"arch": [space.to_str(index_to_arch(7))], "synflow": [9.0]}).to_csv(tmp_path / "a.csv", index=False)
    assert TableScorer.from_csv(tmp_path / "a.csv", "synflow", space)(index_to_arch(7)) == 9.0


def test_bad_wrapper_params() -> None:
    with pytest.raises(ValueError, match="n_warmup"):
        ZeroCostWarmup(RandomSearch(SPACE, np.random.default_rng(0)), PerfectProxy(), 0).ask()
    with pytest.raises(ValueError, match="p_best"):
        ZeroCostMove(make_method("random", SPACE, np.random.default_rng(0)), PerfectProxy(), 3, 1.5).ask()
