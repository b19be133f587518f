"""Helpers shared by the proxy implementations."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn


def logits_of(out: torch.Tensor | tuple | list) -> torch.Tensor:
    """Networks returning ``(features, logits)`` (the official NB201 one) give their last element."""
    return out[-1] if isinstance(out, (tuple, list)) else out


def weighted_layers(net: nn.Module) -> list[nn.Module]:
    """Conv2d and Linear layers in ``net.modules()`` order: the layers every proxy sums over."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def check_batch(inputs: torch.Tensor, targets: torch.Tensor) -> None:
    """One-line errors for a batch that cannot be scored."""
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4:
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"images must be a float tensor of shape [N, C, H, W], got {shape}")
    if not inputs.is_floating_point():
        raise ValueError(f"images must be floating point (normalised), got dtype {inputs.dtype}")
    if not isinstance(targets, torch.Tensor) or targets.dim() != 1 or targets.shape[0] != inputs.shape[0]:
        shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise ValueError(f"targets must be a 1-D tensor of {inputs.shape[0]} class indices, got {shape}")
    if inputs.shape[0] < 2:
        raise ValueError("a batch of at least 2 images is needed (BN statistics, jacob_cov correlations)")


@contextlib.contextmanager
def scoring_mode(net: nn.Module) -> Iterator[nn.Module]:
    """Train mode (BN uses batch statistics, as in the reference code) for the duration; afterwards
    the previous mode, BN running statistics and ``requires_grad`` flags are put back, so a proxy
    leaves the network as it found it. Gradients are taken with ``torch.autograd.grad`` and never
    stored in ``.grad``."""
    was_training = net.training
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    flags = [(p, p.requires_grad) for p in net.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(True)
        net.train()
        with torch.enable_grad():
            yield net
    finally:
        with torch.no_grad():
            for k, v in net.named_buffers():
                if k in buffers:
                    v.copy_(buffers[k])
        for p, flag in flags:
            p.requires_grad_(flag)
        net.train(was_training)


def forward_checked(net: nn.Module | Callable[[torch.Tensor], Any], x: torch.Tensor) -> torch.Tensor:
    """Forward pass that turns a shape mismatch into a one-line ValueError."""
    try:
        return logits_of(net(x))
    except RuntimeError as err:
        if "size" in str(err) or "shape" in str(err) or "channels" in str(err):
            raise ValueError(
                f"images of shape {tuple(x.shape)} do not fit the network ({str(err).splitlines()[0]})"
            ) from None
        raise


def to_float(t: torch.Tensor | float) -> float:
    """A Python float; NaN and inf pass through unchanged (never replaced)."""
    return float(t.item()) if isinstance(t, torch.Tensor) else float(t)
