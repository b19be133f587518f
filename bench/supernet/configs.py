"""Supernet configurations: the published ImageNet one and small CPU ones built from the same classes.

Every field has the meaning of the official ``ShuffleNetV2_OneShot`` (megvii-model/SinglePathOneShot,
``src/Supernet/network.py``): ``stage_out_channels = [-1, first, *stages, last]``, ``stage_repeats``,
a stride-2 first block in each stage.

Small configurations (documented choices, not from the paper):

- ``stem_stride = 1``: with 32 px inputs and a stride-2 stem the last stage would run on 1x1 maps,
  where 3x3, 5x5 and 7x7 depthwise kernels reduce to their centre tap and the choices stop differing.
  With a stride-1 stem the four stages run at 16, 8, 4, 2 px.
- ``stage_repeats = (2, 2, 4, 2)``: 10 choice blocks (4^10 = 1,048,576 subnets), enough that a
  1000-candidate evolution (50 x 20) cannot exhaust the space and that PCF-ES has a prefix to freeze.
- ``flops_limit_m``: chosen so that it bites like the official 330M does on ImageNet, where 59% of
  uniformly sampled subnets are under the limit (measured with ``bench.supernet.flops.flops_quantiles``,
  20,000 samples): cifar10-small 4.0M (59% valid; range 3.2-4.7M), mnist-small 1.13M (58% valid;
  range 0.86-1.41M). FLOPs are multiply-adds as in the SPOS code.
- ``cifar10-spos``: the ImageNet supernet's compute profile on CIFAR-10 at 32 px. In
  ``cifar10-small`` the stem and block 0 hold 26% of a subnet's FLOPs (6% in the ImageNet supernet),
  so freezing one shallow block saves far more there than it can on ImageNet. ``cifar10-spos`` keeps
  the ImageNet layout (20 blocks as 4, 4, 8, 4; every channel count divided by 4: stem 4, stages
  16/40/80/160, last 256) with a stride-1 stem, so the stages run at 16, 8, 4, 2 px, half the
  stem's resolution as on ImageNet (112 -> 56, 28, 14, 7); each block's share of a subnet's FLOPs
  is within 1.6 points of ImageNet's (stem + block 0: 11% vs 6%; the stem's 3-channel input is not
  scaled; ``results/supernet_flops.md``). FLOPs limit 2.23M: 59% of uniform subnets are under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SupernetConfig:
    name: str
    stage_repeats: tuple[int, ...]
    stage_channels: tuple[int, ...]
    first_channels: int
    last_channels: int
    input_size: int
    num_classes: int
    flops_limit_m: float
    """Constraint on a subnet's FLOPs in millions of multiply-adds (the SPOS convention)."""
    in_channels: int = 3
    stem_stride: int = 2
    dropout: float = 0.1
    n_choices: int = 4
    # Evaluation defaults (BN recalibration + validation), see bench/supernet/evaluator.py.
    bn_recal_batches: int = 200
    bn_recal_batch_size: int = 128
    val_batch_size: int = 200
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    """Free-form fields other modules (training, data) may add without changing this class."""

    @property
    def n_blocks(self) -> int:
        return int(sum(self.stage_repeats))

    @property
    def choices(self) -> tuple[int, ...]:
        return (self.n_choices,) * self.n_blocks

    def __post_init__(self) -> None:
        if len(self.stage_repeats) != len(self.stage_channels):
            raise ValueError(f"config {self.name}: stage_repeats and stage_channels differ in length")
        for c in (self.first_channels, *self.stage_channels):
            # channel_shuffle of the official blocks needs a multiple of 4
            if c % 4:
                raise ValueError(f"config {self.name}: channels must be multiples of 4, got {c}")


IMAGENET = SupernetConfig(
    name="imagenet",
    stage_repeats=(4, 4, 8, 4),
    stage_channels=(64, 160, 320, 640),
    first_channels=16,
    last_channels=1024,
    input_size=224,
    num_classes=1000,
    flops_limit_m=330.0,
)

CIFAR10_SMALL = SupernetConfig(
    name="cifar10-small",
    stage_repeats=(2, 2, 4, 2),
    stage_channels=(32, 64, 128, 256),
    first_channels=16,
    last_channels=512,
    input_size=32,
    num_classes=10,
    flops_limit_m=4.0,  # 59% of uniform subnets are under it (measured, flops.flops_quantiles)
    stem_stride=1,
    bn_recal_batches=4,
    bn_recal_batch_size=128,
    val_batch_size=250,
)

MNIST_SMALL = SupernetConfig(
    name="mnist-small",
    stage_repeats=(2, 2, 4, 2),
    stage_channels=(16, 32, 64, 128),
    first_channels=8,
    last_channels=256,
    input_size=32,  # 28 px MNIST digits padded by 2 px on each side
    num_classes=10,
    flops_limit_m=1.13,  # 58% of uniform subnets are under it (measured)
    in_channels=1,
    stem_stride=1,
    bn_recal_batches=2,
    bn_recal_batch_size=128,
    val_batch_size=250,
)

CIFAR10_SPOS = SupernetConfig(
    name="cifar10-spos",
    stage_repeats=(4, 4, 8, 4),  # the ImageNet supernet's 20 blocks
    stage_channels=(16, 40, 80, 160),  # ImageNet's (64, 160, 320, 640) / 4
    first_channels=4,
    last_channels=256,
    input_size=32,
    num_classes=10,
    flops_limit_m=2.23,  # 59% of uniform subnets are under it (measured), as 330M on ImageNet
    stem_stride=1,
    bn_recal_batches=2,
    bn_recal_batch_size=128,
    val_batch_size=250,
)

CONFIGS: dict[str, SupernetConfig] = {
    c.name: c for c in (IMAGENET, CIFAR10_SMALL, MNIST_SMALL, CIFAR10_SPOS)
}
DEFAULT_CONFIG = "imagenet"


def get_config(name: str | SupernetConfig) -> SupernetConfig:
    """A config by name (or pass one through); unknown names list the known ones."""
    if isinstance(name, SupernetConfig):
        return name
    if name not in CONFIGS:
        raise ValueError(f"unknown supernet config {name!r}; choose one of: {', '.join(CONFIGS)}")
    return CONFIGS[name]
