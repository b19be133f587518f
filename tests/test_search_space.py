"""SearchSpace helpers: enumerate, sample_distinct, has_valid_completion (generic and supernet)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from nasrepro.methods.testing import ConstrainedSpace, SyntheticSpace


def test_enumerate_is_ordered_valid_and_bounded() -> None:
    space = SyntheticSpace((2, 3, 2))
    every = space.enumerate()
    assert every == list(itertools.product(range(2), range(3), range(2)))
    assert all(type(c) is int for a in every for c in a)
    cons = ConstrainedSpace(SyntheticSpace((5,) * 4))
    valid = cons.enumerate()
    assert valid and all(cons.is_valid(a) for a in valid) and len(valid) < cons.size
    assert valid == sorted(valid)
    with pytest.raises(ValueError, match="more than"):
        SyntheticSpace((4,) * 20).enumerate()
    with pytest.raises(ValueError, match="more than"):
        space.enumerate(limit=5)


def test_sample_distinct() -> None:
    space = SyntheticSpace((5,) * 6)
    rng = np.random.default_rng(0)
    some = space.sample_distinct(50, rng)
    assert len(some) == len(set(some)) == 50
    every = space.sample_distinct(space.size, np.random.default_rng(1))
    assert sorted(every) == space.enumerate() and every != space.enumerate()  # all of them, shuffled
    cons = ConstrainedSpace(space)
    assert all(cons.is_valid(a) for a in cons.sample_distinct(100, rng))


def test_has_valid_completion_generic() -> None:
    space = SyntheticSpace((3,) * 4)
    assert space.has_valid_completion(()) and space.has_valid_completion((2, 2))
    assert not space.has_valid_completion((3,)) and not space.has_valid_completion((0,) * 5)
    cons = ConstrainedSpace(SyntheticSpace((5,) * 5))
    for prefix in itertools.chain.from_iterable(itertools.product(range(5), repeat=k) for k in range(4)):
        brute = any(cons.is_valid(a) for a in cons.enumerate() if a[: len(prefix)] == prefix)
        assert cons.has_valid_completion(prefix) == brute, prefix


def test_supernet_space_answers_from_its_flops_table() -> None:
    pytest.importorskip("torch")
    from nasrepro.bench.supernet.space import SupernetSpace

    space = SupernetSpace("mnist-small")
    table = space.table
    rng = np.random.default_rng(0)
    n = len(space.choices)
    for _ in range(200):
        k = int(rng.integers(0, n + 1))
        prefix = tuple(int(c) for c in rng.integers(0, 4, size=k))
        lightest = prefix + tuple(int(np.argmin(table.block_flops[i])) for i in range(k, n))
        assert space.has_valid_completion(prefix) == (table.flops_m(lightest) <= space.flops_limit_m)
    heavy = tuple(int(np.argmax(table.block_flops[i])) for i in range(n))
    assert not space.is_valid(heavy) and not space.has_valid_completion(heavy)
    assert space.has_valid_completion(()) and not space.has_valid_completion((9,))
