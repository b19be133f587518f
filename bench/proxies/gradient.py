"""Loss-gradient proxies, each computed alone (one forward/backward of its own), with the
semantics of SamsungLabs/zero-cost-nas ``foresight/pruners/measures``:

- grad_norm: sum over Conv2d/Linear layers of ``||dL/dW||_2`` (weights only).
- snip: sum of ``|W * dL/dW|`` (the gradient of a weight mask at 1, Lee et al. 2019).
- grasp: sum of ``-W * (H g)``, the Hessian-gradient product from a second pass
  (Wang et al. 2020; temperature 1, one iteration).
- fisher: per output channel ``0.5 * mean_n (sum_hw a * dL/da)^2`` on each layer's output
  activation ``a``; the reference broadcasts the channel value over that channel's
  ``fan_in`` weights before summing, so each channel value is multiplied by ``prod(W.shape[1:])``.

The loss is the cross-entropy of the logits on the batch; BN is kept and in train mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from nasrepro.bench.proxies._common import check_batch, forward_checked, scoring_mode, weighted_layers
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn


def layer_sum(values: Sequence[torch.Tensor | None]) -> float:
    """Sum of per-layer tensors in float64 (None = a layer the loss does not reach: 0)."""
    total = torch.zeros((), dtype=torch.float64)
    for v in values:
        if v is not None:
            total = total + v.detach().to(torch.float64).sum()
    return float(total.item())


def grad_norm_from(grads: Sequence[torch.Tensor | None]) -> float:
    return layer_sum([g.detach().norm() if g is not None else None for g in grads])


def snip_from(weights: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None]) -> float:
    return layer_sum([(w.detach() * g.detach()).abs() if g is not None else None for w, g in zip(weights, grads)])


def grasp_from(weights: Sequence[torch.Tensor], hg: Sequence[torch.Tensor | None]) -> float:
    return layer_sum([-w.detach() * h.detach() if h is not None else None for w, h in zip(weights, hg)])


def fisher_from(
    layers: Sequence[nn.Module],
    acts: Sequence[tuple[int, torch.Tensor]],
    act_grads: Sequence[torch.Tensor | None],
) -> float:
    """``acts``: (layer position, output tensor) per call of a layer; ``act_grads``: dL/d(output)."""
    per_layer: list[torch.Tensor | None] = [None] * len(layers)
    for (i, a), g in zip(acts, act_grads):
        if g is None:
            continue
        a, g = a.detach(), g.detach()
        g_nk = (a * g).sum(dim=tuple(range(2, a.dim()))) if a.dim() > 2 else a * g
        del_k = g_nk.pow(2).mean(0).mul(0.5)
        per_layer[i] = del_k if per_layer[i] is None else per_layer[i] + del_k
    fan_in = [int(torch.tensor(layer.weight.shape[1:]).prod()) for layer in layers]
    return layer_sum([v.abs() * n if v is not None else None for v, n in zip(per_layer, fan_in)])


def capture_outputs(layers: Sequence[nn.Module], store: list[tuple[int, torch.Tensor]]) -> list:
    """Forward hooks that append ``(position, output)`` of each layer call to ``store``."""
    handles = []
    for i, layer in enumerate(layers):
        def hook(_m: nn.Module, _inp: tuple, out: torch.Tensor, i: int = i) -> None:
            store.append((i, out))
        handles.append(layer.register_forward_hook(hook))
    return handles


def _loss(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(forward_checked(net, inputs), targets)


@register_proxy("grad_norm")
def grad_norm(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    check_batch(inputs, targets)
    with scoring_mode(net):
        weights = [m.weight for m in weighted_layers(net)]
        grads = torch.autograd.grad(_loss(net, inputs, targets), weights, allow_unused=True)
        return grad_norm_from(grads)


@register_proxy("snip")
def snip(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    check_batch(inputs, targets)
    with scoring_mode(net):
        weights = [m.weight for m in weighted_layers(net)]
        grads = torch.autograd.grad(_loss(net, inputs, targets), weights, allow_unused=True)
        return snip_from(weights, grads)


@register_proxy("grasp")
def grasp(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    check_batch(inputs, targets)
    with scoring_mode(net):
        weights = [m.weight for m in weighted_layers(net)]
        # pass 1: the gradient g, a constant in pass 2
        g = torch.autograd.grad(_loss(net, inputs, targets), weights, allow_unused=True)
        # pass 2: differentiate g . grad(w) once more -> H g
        gf = torch.autograd.grad(_loss(net, inputs, targets), weights, create_graph=True, allow_unused=True)
        z = sum((a.detach() * b).sum() for a, b in zip(g, gf) if a is not None and b is not None)
        if not isinstance(z, torch.Tensor):
            return 0.0
        hg = torch.autograd.grad(z, weights, allow_unused=True)
        return grasp_from(weights, hg)


@register_proxy("fisher")
def fisher(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    check_batch(inputs, targets)
    with scoring_mode(net):
        layers = weighted_layers(net)
        acts: list[tuple[int, torch.Tensor]] = []
        handles = capture_outputs(layers, acts)
        try:
            loss = _loss(net, inputs, targets)
        finally:
            for h in handles:
                h.remove()
        grads = torch.autograd.grad(loss, [a for _, a in acts], allow_unused=True)
        return fisher_from(layers, acts, grads)
