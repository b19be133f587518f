"""``fixed``: evaluate given architectures in order, then go on at random.

Not a search: a way to train chosen architectures through the runner (resumable, fingerprinted,
timed), e.g. the final architecture of an earlier search, once with inherited weights and once from
scratch (the FNAS weight-pool probe). ``archs`` is a ``;``-separated list of architecture strings in
the space's own notation (``space.from_str``), asked in order through the base class's warm-start
queue; after them (or with ``archs=""``) architectures are drawn uniformly at random.
"""

from __future__ import annotations

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace
from nasrepro.methods.base import Method, register


@register("fixed")
class Fixed(Method):
    """The listed architectures first, in order (``archs='A;B'``), then uniform random draws."""

    def __init__(self, space: SearchSpace, rng: np.random.Generator, archs: str = "") -> None:
        super().__init__(space, rng)
        self.archs = archs

    def _setup(self) -> None:
        if not isinstance(self.archs, str):
            raise ValueError(f"fixed: archs must be a ';'-separated string of architectures, got {self.archs!r}")
        listed = [self.space.check(self.space.from_str(a.strip())) for a in self.archs.split(";") if a.strip()]
        bad = [self.space.to_str(a) for a in listed if not self.space.is_valid(a)]
        if bad:
            raise ValueError(f"fixed: {bad[0]} is not valid in space {self.space.name}")
        self._listed = listed

    def _ask(self) -> Arch:
        if self._listed:
            return self._listed.pop(0)
        return self.space.sample(self.rng)

    def _tell(self, arch: Arch, obs: Observation) -> None:
        pass
