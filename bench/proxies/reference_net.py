"""The zero-cost reference's own NB201 network, for explaining gaps: SamsungLabs/zero-cost-nas
``foresight/models/nasbench2_ops.py`` builds the cell convs with ``bias = not affine`` (True in the cells)
and BatchNorm with ``affine=False``; the official NB201 network (ours) has no conv bias and affine BN.

Train-mode BN subtracts each channel's batch mean, so a constant conv bias changes nothing downstream:
grad_norm, snip, grasp, jacob_cov and naswot see the same function. fisher does not: it takes the
conv *output* (bias included) times its gradient. :func:`reference_style` builds that variant of one of
our networks with the same conv weights, so the effect of the bias alone can be measured.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def reference_style(net: nn.Module, seed: int = 0, bias_zero: bool = False) -> nn.Module:
    """A copy of an NB201 network with every cell conv given a bias (PyTorch's default uniform init,
    +-1/sqrt(fan_in), drawn from a generator seeded with ``seed``; zero when ``bias_zero``) and every
    cell BN without affine parameters; conv weights as in ``net``; stem, reduction blocks and classifier
    unchanged (the reference builds those as the official network does)."""
    from nasrepro.bench.nb201.network import NB201Cell, ReLUConvBN

    twin = copy.deepcopy(net)
    g = torch.Generator().manual_seed(int(seed))
    for cell in (m for m in twin.modules() if isinstance(m, NB201Cell)):
        for op in (m for m in cell.modules() if isinstance(m, ReLUConvBN)):
            old = op.op[1]
            conv = nn.Conv2d(old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=True)
            with torch.no_grad():
                conv.weight.copy_(old.weight)
                bound = 1 / math.sqrt(old.weight[0].numel())
                conv.bias.copy_(torch.empty(conv.bias.shape).uniform_(-bound, bound, generator=g))
                if bias_zero:
                    conv.bias.zero_()
            op.op[1] = conv
            op.op[2] = nn.BatchNorm2d(old.out_channels, affine=False)
    return twin
