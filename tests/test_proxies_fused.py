"""Fused scoring gives the same scores as one proxy at a time, and seeding leaks no RNG state."""

from __future__ import annotations

import math

import pytest
import torch
from nasrepro.bench.proxies import arch_seed, available_proxies, score_all, score_each, seeded_net
from torch import nn


def conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
        nn.AvgPool2d(3, stride=1, padding=1),
        nn.Conv2d(6, 6, 1), nn.BatchNorm2d(6), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4),
    )


def batch(n: int = 10, hw: int = 8, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.randn(n, 3, hw, hw, generator=g), torch.randint(0, classes, (n,), generator=g)


def _assert_same(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if math.isnan(b[k]):
            assert math.isnan(a[k]), k
        else:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-9), k


def test_fused_equals_one_at_a_time_small_net() -> None:
    net = seeded_net(conv_net, 0)
    x, y = batch()
    fused = score_all(net, x, y, "all")
    alone = score_each(net, x, y, "all")
    assert set(fused) == set(available_proxies())
    _assert_same(fused, alone)


def test_fused_equals_one_at_a_time_nb201_cell() -> None:
    from nasrepro.bench.nb201.network import build_nb201_net

    arch = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    net = seeded_net(lambda: build_nb201_net(arch, num_classes=4, C=4, N=1), 3)
    x, y = batch(8, 8)
    _assert_same(score_all(net, x, y), score_each(net, x, y))


def test_subset_and_order_and_factory_with_seed() -> None:
    x, y = batch()
    a = score_all(conv_net, x, y, "synflow,snip", seed=7)
    b = score_all(conv_net, x, y, ["synflow", "snip"], seed=7)
    assert list(a) == ["synflow", "snip"] and a == b
    c = score_all(conv_net, x, y, "synflow,snip", seed=8)
    assert c["synflow"] != a["synflow"]
    with pytest.raises(ValueError, match="unknown proxy"):
        score_all(conv_net, x, y, "snip,bogus", seed=7)


def test_seeded_net_reproducible_and_leaks_no_global_state() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    n1, n2 = seeded_net(conv_net, 4), seeded_net(conv_net, 4)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(n1.parameters(), n2.parameters()))
    n3 = seeded_net(conv_net, 5)
    assert not torch.equal(next(n1.parameters()), next(n3.parameters()))
    assert arch_seed(0, 1) == arch_seed(0, 1) != arch_seed(0, 2) != arch_seed(1, 1)


def test_fused_leaves_net_unchanged() -> None:
    net = seeded_net(conv_net, 0).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = batch()
    score_all(net, x, y)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not net.training and all(p.grad is None for p in net.parameters())


def test_fused_keeps_nan() -> None:
    net = seeded_net(conv_net, 0)
    with torch.no_grad():
        net[0].weight.fill_(float("inf"))
    x, y = batch()
    out = score_all(net, x, y, "grad_norm,snip,jacob_cov,synflow")
    assert all(not math.isfinite(v) for v in out.values()), out
