"""Every registered method passes the conformance suite (methods/testing.py).

New methods are covered automatically: the parametrisation reads ``methods.registry()``.
"""

from __future__ import annotations

import pytest

from methods import registry
from methods.testing import (
    CHECKS,
    Case,
    ConstrainedSpace,
    SyntheticBenchmark,
    SyntheticSpace,
    TestAccessError,
    _job,
    drive,
    reachable_benchmarks,
    trajectories_in_subprocess,
    trajectory,
)

METHODS = sorted(registry())
IN_PROCESS = [c for c in CHECKS if c != "deterministic_other_process"]


@pytest.mark.parametrize("check", IN_PROCESS)
@pytest.mark.parametrize("name", METHODS)
def test_conformance(name: str, check: str) -> None:
    CHECKS[check](Case(name))


@pytest.fixture(scope="module")
def other_process() -> dict[str, list[list[int]]]:
    # One fresh interpreter (other PYTHONHASHSEED) for all methods: start-up is paid once.
    cases = [Case(n) for n in METHODS]
    runs = trajectories_in_subprocess([_job(c, 11) for c in cases])
    return dict(zip(METHODS, runs))


@pytest.mark.parametrize("name", METHODS)
def test_same_trajectory_in_another_process(name: str, other_process: dict[str, list[list[int]]]) -> None:
    assert trajectory(Case(name), seed=11) == other_process[name]


def test_core_methods_registered() -> None:
    assert {"random", "rea", "reinforce", "bp"} <= set(METHODS)


# ---- the suite catches what it claims to catch --------------------------------------


def test_synthetic_benchmark_locks_final() -> None:
    bench = SyntheticBenchmark(SyntheticSpace())
    with pytest.raises(TestAccessError):
        bench.final((0,) * 6)
    bench.unlock()
    assert set(bench.final((0,) * 6)) == {"val_acc", "test_acc"}


def test_reachability_scan_finds_a_held_benchmark() -> None:
    bench = SyntheticBenchmark(SyntheticSpace())

    class Holder:
        def __init__(self) -> None:
            self.stuff = {"a": [1, (2, bench)]}

    assert reachable_benchmarks(Holder()) == [bench]
    assert reachable_benchmarks({"x": [1, 2]}) == []


def test_constrained_space_rejects_and_keeps_moves() -> None:
    import numpy as np

    space = ConstrainedSpace(SyntheticSpace())
    rng = np.random.default_rng(0)
    samples = [space.sample(rng) for _ in range(200)]
    assert all(space.is_valid(a) for a in samples)
    assert not space.is_valid((4,) * 6)
    frac = np.mean([space.is_valid(tuple(rng.integers(5, size=6))) for _ in range(2000)])
    assert 0.2 < frac < 0.8
    assert all(space.is_valid(space.mutate(a, rng)) for a in samples[:50])


def test_suite_flags_a_method_that_breaks_the_rules() -> None:
    import random as pyrandom

    from methods.base import Method

    class Bad(Method):
        def __init__(self, space, rng) -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.cache = []  # state in __init__: breaks the scikit-learn rule

        def _ask(self):  # noqa: ANN202
            return tuple(pyrandom.randrange(n) for n in self.space.choices)  # global RNG

    from methods import base

    base._REGISTRY["_bad_for_test"] = Bad
    try:
        with pytest.raises(AssertionError, match="attributes after __init__"):
            CHECKS["init_stores_params"](Case("_bad_for_test"))
        with pytest.raises(AssertionError, match="different trajectories"):
            CHECKS["deterministic"](Case("_bad_for_test"))
        with pytest.raises(AssertionError, match="constraint"):
            CHECKS["constrained_space"](Case("_bad_for_test"))
    finally:
        del base._REGISTRY["_bad_for_test"]


def test_drive_counts_queries() -> None:
    import numpy as np

    from methods.random_search import RandomSearch

    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    drive(RandomSearch(space, np.random.default_rng(0)), bench, 7)
    assert bench.n_queries == 7
