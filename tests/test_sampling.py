"""Distinguish-based importance sampling (PCF-ES): r = 1 is plain evaluation, r < 1 is weighted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nasrepro.bench.supernet.benchmark import make_supernet
from nasrepro.bench.supernet.sampling import build_sample_set, check_sample_rate

ARCHS = [(0, 1, 2, 3, 0, 1, 2, 0, 1, 0), (0, 1, 2, 3, 1, 0, 0, 1, 0, 0), (1, 0, 0, 1, 0, 0, 1, 0, 0, 0),
         (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def _bench(**kw):
    data = {"recal": _data(16, 1), "val": _data(40, 2), "test": _data(8, 3)}
    return make_supernet(config="mnist-small", data=data, bn_batches=2, bn_batch_size=8, val_batch_size=10, **kw)


def test_rate_one_is_plain_evaluation() -> None:
    plain, same = _bench(), _bench(sample_rate=1.0, sample_after=2)
    rng = np.random.default_rng(0)
    assert [plain.query(a, rng).score for a in ARCHS] == [same.query(a, rng).score for a in ARCHS]
    assert same.sample_set is None


def test_sample_set_keeps_most_important_and_weights() -> None:
    losses = np.array([[0.1, 2.0, 0.0, 1.0], [0.1, 2.0, 0.0, 3.0]])
    s = build_sample_set(losses, 0.5)
    assert list(s.indices) == [1, 3]  # the two largest ||f(x)||
    norm = np.linalg.norm(losses, axis=0)
    q = np.maximum(norm, 1e-12 * norm.max()) / np.maximum(norm, 1e-12 * norm.max()).sum()
    np.testing.assert_allclose(s.weights, 0.25 / q[[1, 3]])
    # with the warm-up's correctness as control variate the estimate sits on the full-set scale
    correct = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    cv = build_sample_set(losses, 0.5, correct)
    np.testing.assert_allclose(cv.base_kept, [0.5, 0.5])
    assert cv.base_mean == pytest.approx(0.75)
    assert cv.estimate_top1(np.array([0.5, 0.5])) == pytest.approx(75.0)  # residual 0 -> warm-up mean
    assert cv.estimate_top1(np.array([1.0, 1.0])) == pytest.approx(100 * (0.75 + 1.0 / 4))  # 1/N weights
    assert cv.estimate_top1(np.array([1.0, 1.0])) == pytest.approx(100.0)  # all correct -> 100%, never more
    assert cv.estimate_top1(np.array([0.0, 0.0])) >= 0.0
    with pytest.raises(ValueError, match="non-finite"):
        build_sample_set(np.array([[np.nan, 1.0]]), 0.5)


def test_sampled_benchmark_after_warmup() -> None:
    b = _bench(sample_rate=0.4, sample_after=2)
    rng = np.random.default_rng(0)
    for a in ARCHS[:2]:
        b.query(a, rng)
    assert b.sample_set is not None and len(b.sample_set.indices) == 16  # round(0.4 * 40)
    obs = b.query(ARCHS[2], rng)
    assert 0.0 <= obs.score <= 100.0
    assert b.ledger()["sampled_images"] == 16


@pytest.mark.parametrize("bad", [0, 1.5, -0.1, "x"])
def test_sample_rate_range(bad: object) -> None:
    with pytest.raises(ValueError, match="sample-rate"):
        check_sample_rate(bad)
