"""The method protocol of methods/base.py: lazy set-up, the warm-start queue, data parameters."""

from __future__ import annotations

import numpy as np
import pytest
from nasrepro.bench.core import Observation
from nasrepro.methods import base
from nasrepro.methods.base import Method, make_method
from nasrepro.methods.ppo import PPO
from nasrepro.methods.testing import SyntheticBenchmark, SyntheticSpace, drive

SPACE = SyntheticSpace()


def test_is_setup_is_owned_by_the_base_class() -> None:
    m = PPO(SPACE, np.random.default_rng(0))
    assert not m.is_setup and m.hints() == {} and m.step_info() == {}
    m.ask()
    assert m.is_setup and m.hints() == {"batch": 0}
    with pytest.raises(AttributeError):
        m.is_setup = False  # read-only: subclasses never set it


def test_default_warm_start_queues_archs_to_ask_first() -> None:
    pool = [(4,) * 6, (3, 2, 1, 0, 1, 2), (0,) * 6]
    m = PPO(SPACE, np.random.default_rng(0), batch_size=4)
    m.warm_start(pool, [3.0, 2.0, 1.0])
    asked = [a for a, _ in drive(m, SyntheticBenchmark(SPACE), 10)]
    assert asked[:3] == pool and all(type(c) is int for a in asked for c in a)
    with pytest.raises(ValueError, match="scores"):
        PPO(SPACE, np.random.default_rng(0)).warm_start(pool, [1.0])


def test_warm_start_hook_replaces_the_queue() -> None:
    class Takes(Method):
        def _setup(self) -> None:
            self.got: list = []

        def _warm_start(self, archs, scores) -> None:  # noqa: ANN001
            self.got = list(zip(archs, scores))

        def _ask(self):  # noqa: ANN202
            return (0,) * 6

    m = Takes(SPACE, np.random.default_rng(0))
    m.warm_start([(1,) * 6], [np.float32(2.0)])
    assert m.got == [((1,) * 6, 2.0)] and m.ask() == (0,) * 6


def test_make_method_loads_data_params_and_keeps_other_values() -> None:
    class WithData(Method):
        data_params = {"prior": "tests.test_method_base:_load_prior"}

        def __init__(self, space, rng, prior: object = None) -> None:  # noqa: ANN001
            super().__init__(space, rng)
            self.prior = prior

        def _ask(self):  # noqa: ANN202
            return (0,) * 6

    base._REGISTRY["_data_for_test"] = WithData
    try:
        m = make_method("_data_for_test", SPACE, np.random.default_rng(0), prior="some/path")
        assert m.prior == [("some/path", SPACE.name)]
        data = [((1,) * 6, 1.0)]
        assert make_method("_data_for_test", SPACE, np.random.default_rng(0), prior=data).prior is data
        assert make_method("_data_for_test", SPACE, np.random.default_rng(0)).prior is None
    finally:
        del base._REGISTRY["_data_for_test"]


def _load_prior(value: str, space) -> list:  # noqa: ANN001
    return [(value, space.name)]


def test_tell_before_ask_sets_up() -> None:
    m = PPO(SPACE, np.random.default_rng(0))
    m.tell((1,) * 6, Observation(1.0, 1.0))
    assert m.is_setup and m.history == [((1,) * 6, 1.0)]
