"""ZiCo (Li et al., ICLR 2023, "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients").

Matched to ``SLDGroup/ZiCo`` ``ZeroShotProxy/compute_zico.py`` (``getgrad``, ``caculate_zico``) and to
its NB201 port ``cvlab-yonsei/AZ-NAS`` ``NB201/ZeroShotProxy/compute_zico_score.py`` (``batch_iter=2``,
real training images, layers whose gradient is ``None`` skipped), which is the protocol behind the NB201
numbers quoted for ZiCo.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from nasrepro.bench.proxies._common import check_batch, forward_checked, scoring_mode, weighted_layers
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn

# The official NB201 protocol takes two loader batches (``batch_iter=2``).
ZICO_SPLITS = 2


def zico_from_grads(per_batch: Sequence[Sequence[torch.Tensor | None]]) -> float:
    """ZiCo from ``per_batch[b][l]``: the gradient of layer ``l`` on minibatch ``b``.

    Per layer (flattened weights, float64): ``mean_b |g|`` over ``std_b g`` (population std, as
    ``np.std``) summed over the weights whose std is non-zero; the layer adds ``log`` of that sum, and a
    layer whose sum is 0 adds nothing. A layer with no gradient in some batch is skipped, as in the NB201
    port. Higher is better.
    """
    if len(per_batch) < 2:
        raise ValueError("ZiCo needs the gradients of at least 2 minibatches (a std across batches)")
    total = 0.0
    for layer in range(len(per_batch[0])):
        grads = [b[layer] for b in per_batch]
        if any(g is None for g in grads):
            continue
        stack = np.stack([g.detach().reshape(-1).to(torch.float64).cpu().numpy() for g in grads])
        std = stack.std(axis=0)
        nz = np.nonzero(std)[0]
        ratio_sum = float(np.sum(np.abs(stack).mean(axis=0)[nz] / std[nz]))
        if ratio_sum != 0.0:
            total += float(np.log(ratio_sum))
    return total


def loss_grads(net: nn.Module, weights: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> tuple:
    """``dL/dW`` of the mean cross-entropy of one minibatch (``None`` for an unreached layer)."""
    loss = F.cross_entropy(forward_checked(net, x), y)
    return torch.autograd.grad(loss, weights, allow_unused=True)


def split_batch(inputs: torch.Tensor, targets: torch.Tensor, parts: int = ZICO_SPLITS) -> list[tuple]:
    """``parts`` equal consecutive chunks (the last images are dropped when the size does not divide)."""
    size = inputs.shape[0] // parts
    if size < 2:
        raise ValueError(f"ZiCo splits the batch into {parts} minibatches of >= 2 images; got {inputs.shape[0]} images")
    return [(inputs[i * size:(i + 1) * size], targets[i * size:(i + 1) * size]) for i in range(parts)]


@register_proxy("zico")
def zico(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """ZiCo: sum over Conv2d/Linear layers of ``log(sum_w mean_b|g_w| / std_b g_w)``.

    - batches: ``inputs`` is cut into 2 consecutive halves, each one minibatch with its own forward and
      backward (BN statistics per half). The official NB201 run draws 2 loader batches of 64 real training
      images; ``nasrepro correlate`` passes a 128-image batch (its 64-image minibatch and a second,
      disjoint one), and :func:`bench.proxies.score_all` takes the second batch as ``extra_batches``;
    - init: the network as given (PyTorch default init; the official code does not re-initialise);
    - loss: mean cross-entropy of the logits, BN in train mode, gradients of the weights only;
    - sign: higher = better (no sign flip).
    """
    check_batch(inputs, targets)
    with scoring_mode(net):
        weights = [m.weight for m in weighted_layers(net)]
        per_batch = [loss_grads(net, weights, x, y) for x, y in split_batch(inputs, targets)]
        return zico_from_grads(per_batch)
