"""Zen-score (Lin et al., ICCV 2021, "Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition").

Matched to ``idstcv/ZenNAS`` ``ZeroShotProxy/compute_zen_score.py`` (``network_weight_gaussian_init``,
``compute_nas_score``) and its NB201 port ``cvlab-yonsei/AZ-NAS`` ``NB201/ZeroShotProxy/
compute_zen_score.py`` (``forward_pre_GAP`` = the ``lastact`` BN+ReLU output, ``repeat=1``, the loader's
batch size of Gaussian images), the protocol behind the NB201 numbers quoted for Zen-score.
"""

from __future__ import annotations

import copy
import math

import torch
from nasrepro.bench.proxies._common import check_batch
from nasrepro.bench.proxies.registry import register_proxy
from torch import nn

MIXUP_GAMMA = 1e-2  # official default --mixup_gamma


def fan_in(weight: torch.Tensor) -> int:
    return int(weight[0].numel())


def reinit_copy(net: nn.Module, scheme: str, gen: torch.Generator) -> nn.Module:
    """A deep copy of ``net`` re-initialised from ``gen`` (the caller's network is never touched):

    - ``"gaussian"`` (Zen-NAS): Conv2d and Linear weights N(0, 1);
    - ``"kaiming"`` (AZ-NAS ``kaiming_norm_fanin``): N(0, 2 / fan_in);
    biases 0; BatchNorm/GroupNorm weight 1, bias 0 (no learned BN scale: the paper's "no BN params");
    BN running statistics reset to their defaults (mean 0, var 1); train mode.
    """
    twin = copy.deepcopy(net)
    with torch.no_grad():
        for m in twin.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                std = 1.0 if scheme == "gaussian" else math.sqrt(2.0 / fan_in(m.weight))
                m.weight.normal_(0.0, std, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                if getattr(m, "weight", None) is not None:
                    m.weight.fill_(1.0)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                    m.reset_running_stats()
    return twin.train()


class PreGapCapture:
    """The feature map entering the last ``AdaptiveAvgPool2d`` (NB201: the ``lastact`` output, i.e. the
    official ``forward_pre_GAP``); the network's output when it has no global pooling."""

    def __init__(self, net: nn.Module) -> None:
        pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
        self.value: torch.Tensor | None = None
        self.handle = pools[-1].register_forward_pre_hook(self._hook) if pools else None

    def _hook(self, _m: nn.Module, inp: tuple) -> None:
        self.value = inp[0]

    def run(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = net(x)
        if self.handle is None:
            return out[-1] if isinstance(out, (tuple, list)) else out
        assert self.value is not None
        return self.value

    def remove(self) -> None:
        if self.handle is not None:
            self.handle.remove()


def zen_score(net: nn.Module, shape: tuple[int, ...], gen: torch.Generator,
              device: torch.device | str = "cpu") -> float:
    twin = reinit_copy(net, "gaussian", gen)
    x = torch.randn(shape, generator=gen).to(device)
    x2 = torch.randn(shape, generator=gen).to(device)
    cap = PreGapCapture(twin)
    try:
        with torch.no_grad():
            f1 = cap.run(twin, x)
            f2 = cap.run(twin, x + MIXUP_GAMMA * x2)
    finally:
        cap.remove()
    delta = (f1 - f2).abs().flatten(1).sum(1).mean().to(torch.float64)
    # BN correction, read as the official code reads it: sqrt(mean running_var) of every BatchNorm2d
    # after the two train-mode forwards (momentum 0.1 from var = 1, so 0.81 + 0.09 v1 + 0.1 v2)
    log_bn = torch.zeros((), dtype=torch.float64)
    for m in twin.modules():
        if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
            log_bn = log_bn + torch.log(torch.sqrt(m.running_var.to(torch.float64).mean()))
    return float(torch.log(delta) + log_bn)


@register_proxy("zen")
def zen(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, seed: int = 0) -> float:
    """Zen-score: ``log E|f(x) - f(x + 0.01 e)|_1 + sum_BN log sqrt(mean running_var)``.

    - input: Gaussian N(0, 1) images of the minibatch's shape (batch 64 in the NB201 runs), x and e drawn
      from a ``torch.Generator`` seeded with ``seed`` (the same draws for every cell); the data is not read;
    - init: a copy of the network with Conv/Linear weights N(0, 1), biases 0, BN weight 1 and bias 0, BN
      running statistics reset; BN in train mode (batch statistics); one repeat (AZ-NAS NB201 port; the
      ZenNAS CLI default is 32 repeats averaged);
    - f: the feature map entering global average pooling (NB201: after ``lastact`` BN + ReLU);
      ``|.|_1`` summed over C, H, W and averaged over the batch;
    - BN term: the official code reads ``running_var`` after the two forwards (not the per-batch sigma of
      the paper's Algorithm 1); we do the same;
    - sign: higher = better; a network whose output ignores the input gives log 0 = -inf (kept).
    """
    check_batch(inputs, targets)
    gen = torch.Generator().manual_seed(int(seed))
    return zen_score(net, tuple(inputs.shape), gen, inputs.device)
