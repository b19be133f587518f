"""The SPOS search space: one of 4 choice blocks per supernet block, under a FLOPs limit."""

from __future__ import annotations

from collections.abc import Sequence

from nasrepro.bench.core import Arch, SearchSpace
from nasrepro.bench.supernet.configs import SupernetConfig, get_config
from nasrepro.bench.supernet.flops import FlopsTable, flops_table
from nasrepro.bench.supernet.model import CHOICE_NAMES


class SupernetSpace(SearchSpace):
    """``n_blocks`` decisions of ``n_choices`` options; valid = FLOPs (MACs) <= ``flops_limit_m`` million.

    ``flops_limit_m=None`` takes the config's limit (330M for ImageNet); ``float('inf')`` removes it.
    Sampling (``sample``) is rejection sampling, i.e. uniform over the valid subnets.
    """

    def __init__(self, config: SupernetConfig | str = "imagenet", flops_limit_m: float | None = None) -> None:
        self.config = get_config(config)
        self.name = f"spos-{self.config.name}"
        self.choices = self.config.choices
        self.flops_limit_m = float(self.config.flops_limit_m if flops_limit_m is None else flops_limit_m)
        if not self.flops_limit_m > 0:
            raise ValueError(f"FLOPs limit must be positive (in millions), got {self.flops_limit_m}")
        self._table: FlopsTable | None = None

    @property
    def table(self) -> FlopsTable:
        if self._table is None:
            self._table = flops_table(self.config)
        return self._table

    def flops_m(self, arch: Sequence[int]) -> float:
        return self.table.flops_m(arch)

    def params(self, arch: Sequence[int]) -> int:
        return self.table.params(arch)

    def is_valid(self, arch: Arch) -> bool:
        return self.in_range(arch) and self.table.flops_m(arch) <= self.flops_limit_m

    def lightest_completion(self, prefix: Sequence[int]) -> Arch:
        """``prefix`` completed with the block choices of least FLOPs (FLOPs add up per block, so this
        is the completion of least FLOPs; ties: the lowest choice id)."""
        block_flops = self.table.block_flops
        k = len(prefix)
        return tuple(int(c) for c in prefix) + tuple(
            min(range(len(block_flops[i])), key=block_flops[i].__getitem__) for i in range(k, len(self.choices)))

    def has_valid_completion(self, prefix: Sequence[int]) -> bool:
        """From the FLOPs table: the lightest completion of ``prefix`` is under the limit."""
        prefix = tuple(prefix)
        if len(prefix) > len(self.choices) or not self.in_range(prefix + (0,) * (len(self.choices) - len(prefix))):
            return False
        return self.is_valid(self.lightest_completion(prefix))

    def check(self, arch: Arch) -> Arch:
        """As :meth:`SearchSpace.check`, with the FLOPs in the message when the limit is broken."""
        arch = tuple(int(c) for c in arch)
        if self.in_range(arch) and not self.is_valid(arch):
            raise ValueError(
                f"{self.name} architecture {arch} has {self.flops_m(arch):.2f}M FLOPs, over the "
                f"{self.flops_limit_m:g}M limit: pick lighter choice blocks or raise the limit"
            )
        return super().check(arch)

    def describe(self, arch: Sequence[int]) -> str:
        return " ".join(CHOICE_NAMES[int(c)] for c in arch)


def mnist_small_space() -> SupernetSpace:
    """Zero-argument factory (conformance suite hook): the mnist-small space with its FLOPs limit."""
    return SupernetSpace("mnist-small")
