"""PCF-ES / CF-ES: the freezing schedule, frozen candidates, the announced prefix, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from nasrepro.bench.core import Arch, Benchmark, Observation
from nasrepro.bench.runner import run_search
from nasrepro.bench.supernet.space import SupernetSpace
from nasrepro.methods.base import make_method
from nasrepro.methods.pcf_es import majority, passes


class TargetBenchmark(Benchmark):
    """Score = agreement with a hidden target, shallow blocks weigh most (they 'agree early')."""

    name = "target"
    dataset = "synthetic"

    def __init__(self, target: Arch) -> None:
        self.space = SupernetSpace("mnist-small", flops_limit_m=float("inf"))
        self.target = np.asarray(target)
        self.weights = np.linspace(3.0, 1.0, len(target))
        self.announced: list[tuple[int, ...]] = []

    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        score = float(np.sum(self.weights * (np.asarray(arch) == self.target)))
        return Observation(score=score, cost_s=1.0, info={"top5": score})

    def final(self, arch: Arch) -> dict[str, float]:
        return {"val_acc": 0.0, "test_acc": 0.0}

    def announce(self, hints: dict) -> None:
        self.announced.append(tuple(hints["frozen_prefix"]))

    def reset(self) -> None:
        self.announced = []


TARGET = (1, 2, 3, 0, 1, 2, 3, 0, 1, 2)


def test_majority_and_pass_rule() -> None:
    top = [(0, 1), (0, 2), (0, 1), (1, 3)]
    choices, shares = majority(top, 2, (4, 4))
    assert choices == [0, 1] and shares == [0.75, 0.5]
    assert passes([0.8, 0.8], 0.7, 0.5)
    assert not passes([0.9, 0.6], 0.7, 0.5)  # mean 0.75 > T but only half above T (not more than R)
    assert not passes([0.7, 0.7], 0.7, 0.5)  # strictly above T


@pytest.mark.parametrize("share_over", ["generation", "top-k"])
def test_pcf_es_freezes_progressively_and_stops_when_exhausted(share_over: str) -> None:
    bench = TargetBenchmark(TARGET)
    res = run_search(bench, "pcf-es", seed=0, budget="1000evals",
                     params={"stop_when_exhausted": True, "share_over": share_over})
    method_prefixes = bench.announced
    assert method_prefixes, "PCF-ES never froze a block"
    lengths = [len(p) for p in method_prefixes]
    assert lengths == sorted(lengths)  # the prefix only grows
    assert max(lengths) >= 8  # the shallow blocks froze, in runs of at most 8 at once
    assert res.n_evals < 1000  # nothing unseen left: ended before SPOS-ES's 1000
    assert method_prefixes[-1] == TARGET[: len(method_prefixes[-1])]  # the agreed choices are right here
    # every candidate asked after a freeze carries the frozen prefix
    gens = [r.extra["generation"] for r in res.records]
    frozen = [r.extra["n_frozen"] for r in res.records]
    archs = [tuple(int(c) for c in r.arch.split(",")) for r in res.records]
    for i in range(1, len(archs)):
        if gens[i] != gens[i - 1]:
            k = frozen[i - 1]
            assert archs[i][:k] == method_prefixes[-1][:k]


def test_equal_evaluation_counts_by_default() -> None:
    """The paper's stop: without stop_when_exhausted PCF-ES makes the budget's evaluations, re-asking its best
    once the unfrozen blocks ran out (same generation), and logs its freezing in every step record."""
    res = run_search(TargetBenchmark(TARGET), "pcf-es", seed=0, budget="1000evals")
    stop = run_search(TargetBenchmark(TARGET), "pcf-es", seed=0, budget="1000evals",
                      params={"stop_when_exhausted": True})
    assert res.n_evals == 1000 and stop.n_evals < 1000
    assert [r.arch for r in res.records[: stop.n_evals]] == [r.arch for r in stop.records]  # same search until then
    tail = res.records[stop.n_evals:]
    assert len({r.arch for r in tail}) == 1 and tail[0].extra["exhausted"]
    assert {r.extra["generation"] for r in tail} == {tail[0].extra["generation"]}
    last = res.records[-1].extra
    assert last["freeze_events"] and last["n_frozen"] == len(last["frozen"]) == last["freeze_events"][-1][2] + 1
    assert len(last["shares"]) == len(TARGET)


def test_cf_es_freezes_once() -> None:
    bench = TargetBenchmark(TARGET)
    run_search(bench, "cf-es", seed=0, budget="1000evals")
    assert len(set(bench.announced)) == 1
    assert 1 <= len(bench.announced[0]) <= 8  # at most 8 blocks at once


def test_same_hyperparameters_as_spos_evolution() -> None:
    space = SupernetSpace("mnist-small")
    pcf = make_method("pcf-es", space, np.random.default_rng(0))
    spos = make_method("spos-evolution", space, np.random.default_rng(0))
    for name in ("population_num", "max_epochs", "select_num", "mutation_num", "crossover_num", "m_prob"):
        assert getattr(pcf, name) == getattr(spos, name)
    assert (pcf.threshold, pcf.monitor_size, pcf.block_ratio, pcf.max_at_once) == (0.7, 3, 0.5, 8)


def test_no_freeze_means_same_trajectory_as_spos() -> None:
    """With T = 1.0 nothing ever passes (shares are never > 1): PCF-ES is SPOS-ES exactly."""
    runs = [run_search(TargetBenchmark(TARGET), m, seed=3, budget="200evals", params=p)
            for m, p in (("spos-evolution", {}), ("pcf-es", {"threshold": 1.0}))]
    assert [r.arch for r in runs[0].records] == [r.arch for r in runs[1].records]


@pytest.mark.parametrize(
    "params, needle",
    [({"threshold": 0.0}, "threshold T"), ({"threshold": 1.5}, "threshold T"), ({"monitor_size": -1}, "monitor"),
     ({"block_ratio": 0}, "block ratio"), ({"max_at_once": 0}, "max_at_once")],
)
def test_bad_parameters(params: dict, needle: str) -> None:
    m = make_method("pcf-es", SupernetSpace("mnist-small"), np.random.default_rng(0), **params)
    with pytest.raises(ValueError, match=needle):
        m.ask()


def test_frozen_prefix_that_breaks_flops_limit_is_refused() -> None:
    space = SupernetSpace("mnist-small")
    m = make_method("pcf-es", space, np.random.default_rng(0))
    m.ask()
    heavy = [int(np.argmax(space.table.block_flops[i])) for i in range(len(space.choices))]
    with pytest.raises(ValueError, match="FLOPs limit"):
        m._freeze(heavy, 0, len(heavy), generation=0)
