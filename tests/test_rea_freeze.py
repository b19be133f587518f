"""REA+freeze: PCF-ES's freezing rule over aging evolution's windows of P evaluations."""

from __future__ import annotations

import numpy as np
import pytest
from nasrepro.bench.core import Arch, Benchmark, Observation
from nasrepro.bench.runner import run_search
from nasrepro.bench.supernet.space import SupernetSpace
from nasrepro.methods._freezing import majority
from nasrepro.methods.base import make_method
from nasrepro.methods.testing import ConstrainedSpace, SyntheticBenchmark, SyntheticSpace, drive


class DominantBenchmark(Benchmark):
    """Choice ``favourite[i]`` of block ``i`` is best by far (shallow blocks weigh most): evolution agrees
    on it quickly. Records every announced frozen prefix."""

    name = "dominant"
    dataset = "synthetic"

    def __init__(self, space, favourite: Arch | None = None) -> None:  # noqa: ANN001
        self.space = space
        n = len(space.choices)
        self.favourite = np.asarray(favourite if favourite is not None else [i % 2 for i in range(n)])
        self.weights = np.linspace(3.0, 1.0, n)
        self.announced: list[tuple[int, ...]] = []

    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        score = float(np.sum(self.weights * (np.asarray(arch) == self.favourite)))
        return Observation(score=score, cost_s=1.0)

    def final(self, arch: Arch) -> dict[str, float]:
        return {"val_acc": 0.0, "test_acc": 0.0}

    def announce(self, hints: dict) -> None:
        self.announced.append(tuple(hints["frozen_prefix"]))

    def reset(self) -> None:
        self.announced = []


def _synthetic(space) -> SyntheticBenchmark:  # noqa: ANN001
    bench = SyntheticBenchmark(space)
    bench.unlock()  # the runner calls final() once, after the search
    return bench


def _archs(res) -> list[Arch]:  # noqa: ANN001
    return [tuple(int(c) for c in r.arch.split(",")) for r in res.records]


def _space(kind: str):  # noqa: ANN202
    if kind == "synthetic":
        return SyntheticSpace((5,) * 8)
    if kind == "constrained":
        return ConstrainedSpace(SyntheticSpace((5,) * 8), max_fraction=0.45)
    return SupernetSpace("mnist-small")  # 10 blocks x 4 choices under its FLOPs limit


@pytest.mark.parametrize("kind", ["synthetic", "constrained", "supernet"])
def test_freezes_where_one_choice_dominates_and_respects_the_prefix(kind: str) -> None:
    space = _space(kind)
    bench = DominantBenchmark(space)
    res = run_search(bench, "rea+freeze", seed=0, budget="300evals")
    last = res.records[-1].extra
    assert last["freeze_events"], "REA+freeze never froze a block"
    assert bench.announced and bench.announced[-1] == tuple(last["frozen"])
    lengths = [len(p) for p in bench.announced]
    assert lengths == sorted(lengths) and lengths[0] >= 1  # the prefix only grows
    archs = _archs(res)
    P = 10
    # each freeze takes the majority choices of the window just told (which need not be the dominant
    # choices: a window of aging evolution is mostly one lineage's children; see the module docstring)
    for g, first, last_block in last["freeze_events"]:
        maj, _ = majority(archs[g * P : (g + 1) * P], len(space.choices), space.choices)
        assert last["frozen"][first : last_block + 1] == maj[first : last_block + 1]
    # every evaluation after a freeze carries the prefix frozen when it was asked
    for i in range(1, len(archs)):
        frozen = tuple(res.records[i - 1].extra["frozen"])
        assert archs[i][: len(frozen)] == frozen, f"step {i}: {archs[i]} ignores the frozen prefix {frozen}"
        assert space.is_valid(archs[i])
    # windows: P evaluations each, and a freeze happens at a window's end
    assert [r.extra["generation"] for r in res.records] == [i // P for i in range(len(res.records))]
    for g, first, last_block in last["freeze_events"]:
        assert res.records[(g + 1) * P - 1].extra["n_frozen"] == last_block + 1
        assert res.records[(g + 1) * P - 2].extra["n_frozen"] == first


def test_window_freeze_initial_then_progressive() -> None:
    """The rule on crafted windows: blocks 0-3 agree (8 of 10), the others do not (2 of 10), so blocks 0-3
    freeze (1-5 would have mean share 0.68 <= T); then the next f = 3; then the last one."""
    space = SyntheticSpace((5,) * 8)
    m = make_method("rea+freeze", space, np.random.default_rng(0))
    m.ask()
    window = [(2, 3, 4, 1) + (i % 5,) * 4 for i in range(10)]
    window[0] = (0, 0, 0, 0) + window[0][4:]
    window[1] = (1, 1, 1, 0) + window[1][4:]
    m._observe(window, 0)
    assert m.frozen == [2, 3, 4, 1] and m.freeze_events == [(0, 0, 3)]
    assert m.hints() == {"frozen_prefix": (2, 3, 4, 1)}
    window = [(2, 3, 4, 1, 0, 1, 2, i % 5) for i in range(10)]
    m._observe(window, 1)
    assert m.frozen == [2, 3, 4, 1, 0, 1, 2] and m.freeze_events[-1] == (1, 4, 6)  # at most f = 3 more
    assert not m.done()
    m._observe([(2, 3, 4, 1, 0, 1, 2, 4)] * 10, 2)
    assert m.done() and m.all_frozen_generation == 2 and m.ask() == (2, 3, 4, 1, 0, 1, 2, 4)


def test_children_change_one_unfrozen_block_of_a_population_member() -> None:
    space = _space("synthetic")
    bench = DominantBenchmark(space)
    m = make_method("rea+freeze", space, np.random.default_rng(1), population_size=10, sample_size=3)
    checked = 0
    for _ in range(200):
        k = len(m.frozen) if m.is_setup else 0
        pop = [m._apply(a) for a, _ in m._population] if m.is_setup else []
        arch = m.ask()
        if k and not m._initialising() and not m._all_frozen():
            assert any(sum(x != y for x, y in zip(arch, p)) == 1 and arch[:k] == p[:k] for p in pop)
            checked += 1
        m.tell(arch, bench.query(arch, np.random.default_rng(0)))
    assert checked > 50


def test_propose_respects_the_prefix() -> None:
    space = _space("constrained")
    bench = DominantBenchmark(space)
    m = make_method("rea+freeze", space, np.random.default_rng(2))
    drive(m, bench, 60)
    assert m.frozen, "no freeze to test propose with"
    k = len(m.frozen)
    for n in (1, 5, 1000):
        cands = m.propose(n)
        assert cands and all(c[:k] == tuple(m.frozen) and space.is_valid(c) for c in cands)
        assert len(set(cands)) == len(cands)


def test_seeded_determinism() -> None:
    space = _space("supernet")

    def run(seed: int) -> tuple[list[Arch], list]:  # noqa: ANN001
        res = run_search(DominantBenchmark(space), "rea+freeze", seed=seed, budget="150evals")
        return _archs(res), res.records[-1].extra["freeze_events"]

    a, b = run(4), run(4)
    assert a == b and a[1]  # same archs, same freeze events, and it froze
    assert run(5)[0] != a[0]


def test_same_as_rea_until_the_first_freeze_and_without_one() -> None:
    space = _space("synthetic")
    rea = _archs(run_search(_synthetic(space), "rea", seed=3, budget="200evals"))
    never = run_search(_synthetic(space), "rea+freeze", seed=3, budget="200evals", params={"threshold": 1.0})
    assert _archs(never) == rea and not never.records[-1].extra["freeze_events"]  # shares are never > 1
    frz = run_search(_synthetic(space), "rea+freeze", seed=3, budget="200evals")
    events = frz.records[-1].extra["freeze_events"]
    assert events
    first = (events[0][0] + 1) * 10  # evaluations before the first frozen ask
    assert _archs(frz)[:first] == rea[:first]


def test_all_blocks_frozen_stops_the_run() -> None:
    space = SyntheticSpace((3,) * 4)
    bench = DominantBenchmark(space)
    res = run_search(bench, "rea+freeze", seed=0, budget="500evals", params={"threshold": 0.5})
    last = res.records[-1].extra
    assert last["n_frozen"] == 4 and last["all_frozen_generation"] is not None
    assert res.n_evals == (last["all_frozen_generation"] + 1) * 10 < 500


def test_frozen_prefix_that_breaks_flops_limit_is_refused() -> None:
    space = SupernetSpace("mnist-small")
    m = make_method("rea+freeze", space, np.random.default_rng(0))
    m.ask()
    heavy = [int(np.argmax(space.table.block_flops[i])) for i in range(len(space.choices))]
    with pytest.raises(ValueError, match="FLOPs limit"):
        m._freeze(heavy, 0, len(heavy), generation=0)


@pytest.mark.parametrize(
    "params, needle",
    [({"threshold": 0.0}, "threshold T"), ({"threshold": 1.5}, "threshold T"), ({"monitor_size": -1}, "monitor"),
     ({"block_ratio": 0}, "block ratio"), ({"max_at_once": 0}, "max_at_once"), ({"population_size": 0}, "population")],
)
def test_bad_parameters(params: dict, needle: str) -> None:
    m = make_method("rea+freeze", SupernetSpace("mnist-small"), np.random.default_rng(0), **params)
    with pytest.raises(ValueError, match=needle):
        m.ask()
