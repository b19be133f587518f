"""The SPOS single-path supernet (ShuffleNetV2 choice blocks), module for module as the official code.

Reference: megvii-model/SinglePathOneShot ``src/Supernet/network.py`` and ``blocks.py`` (Guo et al.,
ECCV 2020). Module names match the official ones so that the released
``checkpoint-150000.pth.tar`` maps key for key (``first_conv.*``, ``features.{block}.{choice}.branch_main.*``,
``branch_proj`` in the first block of every stage, ``conv_last.*``, ``classifier.0.weight``).

Faithful details:

- every BatchNorm2d of the supernet (stem, blocks, ``conv_last``) has ``affine=False``;
- stride-1 blocks take ``C/2`` channels (channel split by :func:`channel_shuffle`) and output
  ``C/2``; a stride-2 block (first of a stage) takes all ``C_in`` channels into both branches and the
  main branch outputs ``C_out - C_in``;
- ``mid_channels = C_out // 2``; the classifier is one bias-free Linear; dropout 0.1 before it;
- weights initialised as the official ``_initialize_weights`` (from an explicit ``torch.Generator``).

Difference: global pooling is ``AdaptiveAvgPool2d(1)`` instead of ``AvgPool2d(7)``; identical at
224 px (7x7 final maps), and it lets the small configs use other input sizes. Neither has weights.

Split evaluation: ``forward(x, arch) == forward_suffix(forward_prefix(x, arch, k), arch, k)`` for every
``k`` in ``0..n_blocks``; the prefix is the stem plus blocks ``0..k-1``. PCF-ES caches prefix outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from nasrepro.bench.supernet.configs import SupernetConfig, get_config

CHOICE_NAMES = ("Shuffle3x3", "Shuffle5x5", "Shuffle7x7", "Xception")


def channel_shuffle(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split channels into two interleaved halves (even channels, odd channels), as the official code."""
    b, c, h, w = x.shape
    if c % 4:
        raise ValueError(f"channel_shuffle needs a multiple of 4 channels, got {c}")
    x = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
    return x[0], x[1]


def _proj_branch(inp: int, ksize: int, stride: int) -> nn.Sequential:
    pad = ksize // 2
    return nn.Sequential(
        nn.Conv2d(inp, inp, ksize, stride, pad, groups=inp, bias=False),  # dw
        nn.BatchNorm2d(inp, affine=False),
        nn.Conv2d(inp, inp, 1, 1, 0, bias=False),  # pw-linear
        nn.BatchNorm2d(inp, affine=False),
        nn.ReLU(inplace=True),
    )


class _ChoiceBlock(nn.Module):
    branch_main: nn.Sequential
    branch_proj: nn.Sequential

    def __init__(self, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride

    def forward(self, old_x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x_proj, x = channel_shuffle(old_x)
            return torch.cat((x_proj, self.branch_main(x)), 1)
        return torch.cat((self.branch_proj(old_x), self.branch_main(old_x)), 1)


class Shufflenet(_ChoiceBlock):
    """ShuffleNetV2 unit with a ``ksize`` x ``ksize`` depthwise conv (choices 0, 1, 2)."""

    def __init__(self, inp: int, oup: int, mid_channels: int, *, ksize: int, stride: int) -> None:
        super().__init__(stride)
        if ksize not in (3, 5, 7):
            raise ValueError(f"ksize must be 3, 5 or 7, got {ksize}")
        self.ksize, self.inp = ksize, inp
        outputs, pad = oup - inp, ksize // 2
        self.branch_main = nn.Sequential(
            nn.Conv2d(inp, mid_channels, 1, 1, 0, bias=False),  # pw
            nn.BatchNorm2d(mid_channels, affine=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, ksize, stride, pad, groups=mid_channels, bias=False),  # dw
            nn.BatchNorm2d(mid_channels, affine=False),
            nn.Conv2d(mid_channels, outputs, 1, 1, 0, bias=False),  # pw-linear
            nn.BatchNorm2d(outputs, affine=False),
            nn.ReLU(inplace=True),
        )
        if stride == 2:
            self.branch_proj = _proj_branch(inp, ksize, stride)


class ShuffleXception(_ChoiceBlock):
    """Xception-like unit: three 3x3 depthwise convs (choice 3)."""

    def __init__(self, inp: int, oup: int, mid_channels: int, *, stride: int) -> None:
        super().__init__(stride)
        self.ksize, self.inp = 3, inp
        outputs, mid = oup - inp, mid_channels
        self.branch_main = nn.Sequential(
            nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),  # dw
            nn.BatchNorm2d(inp, affine=False),
            nn.Conv2d(inp, mid, 1, 1, 0, bias=False),  # pw
            nn.BatchNorm2d(mid, affine=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, 1, 1, groups=mid, bias=False),  # dw
            nn.BatchNorm2d(mid, affine=False),
            nn.Conv2d(mid, mid, 1, 1, 0, bias=False),  # pw
            nn.BatchNorm2d(mid, affine=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, 1, 1, groups=mid, bias=False),  # dw
            nn.BatchNorm2d(mid, affine=False),
            nn.Conv2d(mid, outputs, 1, 1, 0, bias=False),  # pw
            nn.BatchNorm2d(outputs, affine=False),
            nn.ReLU(inplace=True),
        )
        if stride == 2:
            self.branch_proj = _proj_branch(inp, 3, stride)


def make_choice(choice: int, inp: int, oup: int, mid: int, stride: int) -> _ChoiceBlock:
    if choice in (0, 1, 2):
        return Shufflenet(inp, oup, mid, ksize=3 + 2 * choice, stride=stride)
    if choice == 3:
        return ShuffleXception(inp, oup, mid, stride=stride)
    raise ValueError(f"choice must be 0..3, got {choice}")


def block_specs(config: SupernetConfig) -> list[tuple[int, int, int, int]]:
    """``(inp, oup, mid_channels, stride)`` of every choice block, as the official constructor computes them."""
    specs = []
    input_channel = config.first_channels
    for repeats, output_channel in zip(config.stage_repeats, config.stage_channels):
        for i in range(repeats):
            if i == 0:
                inp, stride = input_channel, 2
            else:
                inp, stride = input_channel // 2, 1
            specs.append((inp, output_channel, output_channel // 2, stride))
            input_channel = output_channel
    return specs


class ShuffleNetV2OneShot(nn.Module):
    """The SPOS supernet; ``forward(x, arch)`` runs the single path ``arch`` (one choice per block)."""

    def __init__(self, config: SupernetConfig | str = "imagenet", seed: int = 0) -> None:
        super().__init__()
        cfg = get_config(config)
        self.config = cfg
        self.first_conv = nn.Sequential(
            nn.Conv2d(cfg.in_channels, cfg.first_channels, 3, cfg.stem_stride, 1, bias=False),
            nn.BatchNorm2d(cfg.first_channels, affine=False),
            nn.ReLU(inplace=True),
        )
        self.features = nn.ModuleList()
        for inp, oup, mid, stride in block_specs(cfg):
            self.features.append(
                nn.ModuleList(make_choice(c, inp, oup, mid, stride) for c in range(cfg.n_choices))
            )
        self.conv_last = nn.Sequential(
            nn.Conv2d(cfg.stage_channels[-1], cfg.last_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cfg.last_channels, affine=False),
            nn.ReLU(inplace=True),
        )
        self.globalpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Sequential(nn.Linear(cfg.last_channels, cfg.num_classes, bias=False))
        self.reset_parameters(seed)

    @property
    def n_blocks(self) -> int:
        return len(self.features)

    def reset_parameters(self, seed: int = 0) -> None:
        """The official ``_initialize_weights``, drawn from ``torch.Generator().manual_seed(seed)``."""
        gen = torch.Generator().manual_seed(seed)
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                std = 0.01 if "first" in name else 1.0 / m.weight.shape[1]
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
            elif isinstance(m, nn.Linear):
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.01)

    # ---- forward ---------------------------------------------------------------------------
    def check_arch(self, arch: Sequence[int]) -> tuple[int, ...]:
        arch = tuple(int(a) for a in arch)
        if len(arch) != self.n_blocks:
            raise ValueError(
                f"architecture has {len(arch)} choices, the {self.config.name} supernet has {self.n_blocks} blocks"
            )
        if any(not 0 <= a < self.config.n_choices for a in arch):
            raise ValueError(f"architecture {arch} has a choice outside 0..{self.config.n_choices - 1}")
        return arch

    def forward_prefix(self, x: torch.Tensor, arch: Sequence[int], k: int) -> torch.Tensor:
        """Stem plus the first ``k`` choice blocks of ``arch`` (only ``arch[:k]`` is used)."""
        if not 0 <= k <= self.n_blocks:
            raise ValueError(f"prefix length must be in 0..{self.n_blocks}, got {k}")
        arch = tuple(int(a) for a in arch)
        if len(arch) < k:
            raise ValueError(f"prefix of length {k} needs {k} choices, got {len(arch)}")
        x = self.first_conv(x)
        for i in range(k):
            x = self.features[i][arch[i]](x)
        return x

    def forward_suffix(self, h: torch.Tensor, arch: Sequence[int], k: int, head: bool = True) -> torch.Tensor:
        """Blocks ``k..`` of ``arch`` and the head, from the output ``h`` of :meth:`forward_prefix`.

        ``head=False`` stops after ``conv_last`` (its BN is the last one): enough for BN
        recalibration, and it skips dropout, whose train-mode mask would draw from torch's global RNG.
        """
        arch = self.check_arch(arch)
        if not 0 <= k <= self.n_blocks:
            raise ValueError(f"prefix length must be in 0..{self.n_blocks}, got {k}")
        for i in range(k, self.n_blocks):
            h = self.features[i][arch[i]](h)
        h = self.conv_last(h)
        if not head:
            return h
        h = self.globalpool(h)
        h = self.dropout(h)
        h = h.flatten(1)
        return self.classifier(h)

    def forward(self, x: torch.Tensor, arch: Sequence[int]) -> torch.Tensor:
        arch = self.check_arch(arch)
        return self.forward_suffix(self.forward_prefix(x, arch, 0), arch, 0)

    def subnet_parameters(self, arch: Sequence[int]) -> list[nn.Parameter]:
        """The parameters one path uses (for optimisers that should only touch the sampled path)."""
        arch = self.check_arch(arch)
        params = list(self.first_conv.parameters())
        for i, a in enumerate(arch):
            params += list(self.features[i][a].parameters())
        return params + list(self.conv_last.parameters()) + list(self.classifier.parameters())
