"""SynFlow (Tanaka et al. 2020) as zero-cost-nas computes it: on a copy of the network with every
BatchNorm a no-op (``bn=False``), cast to float64, all parameters and buffers replaced by their
absolute values, one all-ones input of shape [1, C, H, W]; R = sum of the logits; score = sum over
Conv2d/Linear weights of |W * dR/dW|. The caller's network is not touched (we work on a deep copy,
which is what "restore the net afterwards" amounts to)."""

from __future__ import annotations

import copy
import types

import torch
from nasrepro.bench.proxies._common import check_batch, forward_checked, weighted_layers
from nasrepro.bench.proxies.gradient import layer_sum
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn


def _no_op(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x


def linearised_copy(net: nn.Module) -> nn.Module:
    twin = copy.deepcopy(net)
    for m in twin.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.forward = types.MethodType(_no_op, m)  # type: ignore[method-assign]
    twin.double()
    with torch.no_grad():
        for t in twin.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    for p in twin.parameters():
        p.requires_grad_(True)
    return twin.train()


@register_proxy("synflow")
def synflow(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    check_batch(inputs, targets)
    twin = linearised_copy(net)
    weights = [m.weight for m in weighted_layers(twin)]
    ones = torch.ones([1, *inputs.shape[1:]], dtype=torch.float64, device=inputs.device)
    with torch.enable_grad():
        out = forward_checked(twin, ones)
        grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return layer_sum([(w.detach() * g).abs() if g is not None else None for w, g in zip(weights, grads)])
