"""FLOPs (multiply-adds, the SPOS convention) and params from the lookup table vs FlopCounterMode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nasrepro.bench.supernet.flops import flops_table, measure_subnet_flops
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot
from nasrepro.bench.supernet.space import SupernetSpace
from torch.utils.flop_counter import FlopCounterMode

BEST = (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)


def test_flop_counter_counts_two_per_mac() -> None:
    conv = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    with FlopCounterMode(display=False) as c:
        conv(torch.zeros(1, 4, 5, 5))
    assert c.get_total_flops() == 2 * (8 * 4 * 9 * 5 * 5)


@pytest.mark.parametrize("config", ["mnist-small", "cifar10-small"])
def test_table_matches_whole_subnet_count(config: str) -> None:
    net = ShuffleNetV2OneShot(config)
    table = flops_table(config)
    rng = np.random.default_rng(0)
    for _ in range(4):
        arch = tuple(int(a) for a in rng.integers(4, size=net.n_blocks))
        assert table.flops(arch) == measure_subnet_flops(net, arch)
        path_params = sum(p.numel() for p in net.subnet_parameters(arch))
        assert table.params(arch) == path_params
    assert table.supernet_params == sum(p.numel() for p in net.parameters())


def test_official_best_arch_imagenet() -> None:
    net = ShuffleNetV2OneShot("imagenet")
    table = flops_table("imagenet")
    macs = table.flops(BEST)
    assert macs == measure_subnet_flops(net, BEST)
    assert abs(macs / 1e6 - 323) < 1.0  # published 323M (README), multiply-adds
    assert abs(table.params(BEST) / 1e6 - 3.5) < 0.05  # published 3.5M
    assert table.supernet_params == 8_388_176


def test_space_constraint_and_sampling() -> None:
    space = SupernetSpace("mnist-small")
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(50)]
    assert all(space.flops_m(a) <= space.flops_limit_m for a in archs)
    heavy = (2,) * 10
    assert not space.is_valid(heavy)
    with pytest.raises(ValueError, match="over the 1.13M limit"):
        space.check(heavy)
    with pytest.raises(ValueError, match="expected 10|has 3 decisions"):
        space.check((0, 1, 2))
    assert SupernetSpace("mnist-small", flops_limit_m=float("inf")).is_valid(heavy)
    with pytest.raises(ValueError, match="positive"):
        SupernetSpace("mnist-small", flops_limit_m=0)
