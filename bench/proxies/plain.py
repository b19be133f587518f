"""Plain baselines: parameter count and FLOPs (no data dependence beyond the input shape)."""

from __future__ import annotations

import torch
from nasrepro.bench.proxies._common import check_batch, forward_checked
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@register_proxy("params")
def params(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Number of parameters (all of them, trainable or not)."""
    return float(sum(p.numel() for p in net.parameters()))


@register_proxy("flops")
def flops(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """FLOPs of one forward pass of one image of the batch's shape, as
    ``torch.utils.flop_counter`` counts them (2 per multiply-add; conv and matmul only)."""
    check_batch(inputs, targets)
    was_training = net.training
    net.eval()  # eval: no BN running-stat update, so the network is left unchanged
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            forward_checked(net, inputs[:1])
    finally:
        net.train(was_training)
    return float(counter.get_total_flops())
