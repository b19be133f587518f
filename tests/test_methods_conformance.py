"""Every registered method passes the conformance suite (methods/testing.py).

New methods are covered automatically: the parametrisation reads ``methods.registry()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from nasrepro.methods import registry
from nasrepro.methods.base import Method
from nasrepro.methods.testing import (
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

    from nasrepro.methods.base import Method

    class Bad(Method):
        def __init__(self, space, rng) -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.cache = []  # state in __init__: breaks the scikit-learn rule

        def _ask(self):  # noqa: ANN202
            return tuple(pyrandom.randrange(n) for n in self.space.choices)  # global RNG

    from nasrepro.methods import base

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
    from nasrepro.methods.random_search import RandomSearch

    space = SyntheticSpace()
    bench = SyntheticBenchmark(space)
    drive(RandomSearch(space, np.random.default_rng(0)), bench, 7)
    assert bench.n_queries == 7


# ---- the checks added with the finished method protocol --------------------------------


@contextlib.contextmanager
def _registered(name: str, cls: type) -> Iterator[None]:
    from nasrepro.methods import base

    base._REGISTRY[name] = cls
    try:
        yield
    finally:
        del base._REGISTRY[name]


class _Plain(Method):
    """A well-behaved toy: random draws, nothing else."""

    def _ask(self):  # noqa: ANN202
        return self.space.sample(self.rng)


def test_each_new_check_is_registered_and_passes_a_good_method() -> None:
    assert {"init_inert", "tell_unasked", "params_round_trip"} <= set(CHECKS)
    with _registered("_good_for_test", _Plain):
        for name in ("init_inert", "tell_unasked", "params_round_trip"):
            CHECKS[name](Case("_good_for_test"))


def test_tell_unasked_catches_a_method_that_only_accepts_its_own_asks() -> None:
    class OnlyOwn(_Plain):
        def _setup(self) -> None:
            self._asked: list = []

        def _ask(self):  # noqa: ANN202
            arch = self.space.sample(self.rng)
            self._asked.append(arch)
            return arch

        def _tell(self, arch, obs) -> None:  # noqa: ANN001
            self._asked.remove(arch)  # ValueError for an architecture it did not ask

    with _registered("_bad_for_test", OnlyOwn), pytest.raises(AssertionError, match="did not ask"):
        CHECKS["tell_unasked"](Case("_bad_for_test"))


def test_tell_unasked_catches_a_method_that_breaks_afterwards() -> None:
    class Counts(_Plain):
        def _setup(self) -> None:
            self._n_asked = 0
            self._scores: list = []

        def _ask(self):  # noqa: ANN202
            # assumes one tell per ask: an extra tell shifts the index past the list
            arch = self.space.sample(self.rng) if self._n_asked < 3 else self._best[self._n_asked]
            self._n_asked += 1
            return arch

        def _tell(self, arch, obs) -> None:  # noqa: ANN001
            self._scores.append(obs.score)
            self._best = {len(self._scores): arch}

    with _registered("_bad_for_test", Counts), pytest.raises(AssertionError, match="ask #"):
        CHECKS["tell_unasked"](Case("_bad_for_test"))


def test_init_inert_catches_coercion_file_access_and_rng_draws() -> None:
    class Coerces(_Plain):
        def __init__(self, space, rng, lr: float = 0.1) -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.lr = float(lr)  # a coerced copy, not the object given

    class OpensFile(_Plain):
        def __init__(self, space, rng, table: str = "no_such_table.csv") -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.table = table
            if Path(table).exists():  # file access in __init__ (os.stat)
                raise AssertionError("unreachable")

    class ReadsFile(_Plain):
        def __init__(self, space, rng, table: str = "pyproject.toml") -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.table = table
            with open(table) as fh:  # noqa: PTH123
                fh.read(1)

    class Draws(_Plain):
        def __init__(self, space, rng, seed_offset: int = 0) -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.seed_offset = seed_offset
            rng.random()

    for cls, needle in ((Coerces, "very object given"), (OpensFile, "touched a file: os.stat"),
                        (ReadsFile, "touched a file: open"), (Draws, "drew from rng")):
        with _registered("_bad_for_test", cls), pytest.raises(AssertionError, match=needle):
            CHECKS["init_inert"](Case("_bad_for_test"))


def test_params_round_trip_catches_bad_defaults() -> None:
    auto = object()
    anneal = 2.0  # a default told apart from the same value given explicitly (by identity)

    class NotJson(_Plain):
        def __init__(self, space, rng, mode: object = auto) -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.mode = mode

    class NanDefault(_Plain):
        def __init__(self, space, rng, tol: float = float("nan")) -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.tol = tol

    class Identity(_Plain):
        def __init__(self, space, rng, temperature: float = anneal) -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.temperature = temperature

        def _ask(self):  # noqa: ANN202
            if self.temperature is not anneal:
                self.rng.random()  # "explicit" temperature: another code path
            return self.space.sample(self.rng)

    for cls, needle in ((NotJson, "not JSON"), (NanDefault, "not JSON"), (Identity, "change the trajectory")):
        with _registered("_bad_for_test", cls), pytest.raises(AssertionError, match=needle):
            CHECKS["params_round_trip"](Case("_bad_for_test"))
