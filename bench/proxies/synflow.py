"""SynFlow (Tanaka et al. 2020) as zero-cost-nas computes it: the network with every BatchNorm a no-op
(``bn=False``), in float64, all parameters and buffers replaced by their absolute values, one all-ones
input of shape [1, C, H, W]; R = sum of the logits; score = sum over Conv2d/Linear weights of
|W * dR/dW|.

The reference deep-copies the network to do this; we run the caller's network under
``torch.func.functional_call`` with float64 absolute copies of its tensors instead, and make its
BatchNorms no-ops only for that call (instance attributes, removed afterwards). The arithmetic is the
same (a test compares bits), the caller's network ends as it was, and the Python-level copy of every
module, which on an NB201 cell cost more than the forward and backward themselves, is gone
(``nasrepro speed synflow-full`` measures the whole job)."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from itertools import chain

import torch
from nasrepro.bench.proxies._common import check_batch, forward_checked, weighted_layers
from nasrepro.bench.proxies.gradient import layer_sum
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn
from torch.func import functional_call


def _no_op(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x


@contextlib.contextmanager
def batchnorm_bypassed(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in train mode with every BatchNorm's forward the identity; both undone on exit."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.__dict__.get("forward") for m in bns]
    was_training = net.training
    try:
        for m in bns:
            m.forward = types.MethodType(_no_op, m)  # type: ignore[method-assign]
        yield net.train()
    finally:
        for m, f in zip(bns, saved):
            if f is None:
                del m.forward
            else:
                m.forward = f  # type: ignore[method-assign]
        net.train(was_training)


def absolute_float64(net: nn.Module) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    """``(tensors, weights)``: every parameter and buffer of ``net`` by name, floating ones as float64
    absolute copies (tied tensors stay tied: one copy per original), and the copies of the Conv2d/Linear
    weights, in :func:`weighted_layers` order, requiring grad."""
    copies: dict[int, torch.Tensor] = {}

    def copy_of(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in copies:
            copies[id(t)] = t.detach().double().abs() if t.is_floating_point() else t
        return copies[id(t)]

    named = chain(net.named_parameters(remove_duplicate=False), net.named_buffers(remove_duplicate=False))
    tensors = {name: copy_of(t) for name, t in named}
    weights = [copy_of(m.weight).requires_grad_(True) for m in weighted_layers(net)]
    return tensors, weights


@register_proxy("synflow")
def synflow(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    check_batch(inputs, targets)
    tensors, weights = absolute_float64(net)
    ones = torch.ones([1, *inputs.shape[1:]], dtype=torch.float64, device=inputs.device)
    with batchnorm_bypassed(net), torch.enable_grad():
        out = forward_checked(lambda x: functional_call(net, tensors, (x,), tie_weights=True), ones)
        grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return layer_sum([(w.detach() * g).abs() if g is not None else None for w, g in zip(weights, grads)])
