"""Feature reuse for PCF-ES: cached evaluation equals full evaluation, within any byte budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nasrepro.bench.supernet.benchmark import make_supernet
from nasrepro.bench.supernet.evaluator import SubnetEvaluator
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot
from nasrepro.bench.supernet.prefix_cache import PrefixCache, parse_cache_mb

ARCH = (0, 1, 2, 3, 0, 1, 2, 0, 1, 0)
OTHER = (0, 1, 2, 3, 1, 0, 0, 1, 0, 0)  # same 4-block prefix


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def _evaluator() -> SubnetEvaluator:
    net = ShuffleNetV2OneShot("mnist-small", seed=0)
    return SubnetEvaluator(net, _data(24, 1), _data(16, 2), bn_batches=3, bn_batch_size=8, val_batch_size=8)


@pytest.mark.parametrize("budget_bytes", [1 << 30, 20_000, 0])
def test_cached_equals_full_for_any_budget(budget_bytes: int) -> None:
    ev = _evaluator()
    full = {a: ev.evaluate(a, keep_logits=True) for a in (ARCH, OTHER)}
    cache = PrefixCache(budget_bytes)
    cache.set_prefix(ARCH[:4])
    for _ in range(2):
        for a in (ARCH, OTHER):
            res = ev.evaluate(a, prefix_len=4, prefix_provider=cache, keep_logits=True)
            assert res.top1 == full[a].top1 and res.top5 == full[a].top5
            torch.testing.assert_close(res.logits, full[a].logits, rtol=0, atol=1e-5)
    assert cache.bytes_used <= budget_bytes
    if budget_bytes == 0:
        assert cache.stats.hits == 0 and cache.stats.recomputed == cache.stats.misses
    elif budget_bytes > 1 << 20:
        assert cache.stats.misses == 3 + 2 and cache.stats.hits == 3 * 5  # stored once, reused after


def test_growing_prefix_invalidates() -> None:
    ev = _evaluator()
    cache = PrefixCache(1 << 30)
    cache.set_prefix(ARCH[:2])
    ev.evaluate(ARCH, prefix_len=2, prefix_provider=cache)
    assert cache.bytes_used > 0
    cache.set_prefix(ARCH[:4])
    assert cache.bytes_used == 0 and cache.stats.invalidations == 1 and cache.bn_state(ARCH[:2]) is None
    full = ev.evaluate(ARCH)
    assert ev.evaluate(ARCH, prefix_len=4, prefix_provider=cache).top1 == full.top1


def test_benchmark_reuses_announced_prefix_and_resets() -> None:
    data = {"recal": _data(24, 1), "val": _data(16, 2), "test": _data(16, 3)}
    kw = dict(config="mnist-small", data=data, bn_batches=3, bn_batch_size=8, val_batch_size=8)
    plain = make_supernet(**kw)
    cached = make_supernet(**kw, cache_mb=64)
    rng = np.random.default_rng(0)
    cached.announce({"frozen_prefix": ARCH[:4]})
    for a in (ARCH, OTHER, ARCH):
        o1, o2 = plain.query(a, rng), cached.query(a, rng)
        assert o1.score == o2.score
    assert o2.info["prefix_len"] == 4
    led = cached.ledger()
    assert led["cache_hits"] > 0 and led["cache_peak_bytes"] > 0
    cached.reset()
    assert cached.frozen_prefix == () and cached.ledger()["cache_hits"] == 0


@pytest.mark.parametrize("bad", ["abc", "-1", "nan", None, "inf"])
def test_cache_mb_must_be_a_number(bad: object) -> None:
    with pytest.raises(ValueError, match="cache-mb"):
        parse_cache_mb(bad)
