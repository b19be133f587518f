"""Core types shared by every benchmark, method and runner.

The one rule: a *method* sees only :class:`Observation` objects (a validation
score and a cost). Test accuracy lives behind :meth:`Benchmark.final`, which only
the runner calls, once, for the architecture the method recommends.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from nasrepro.bench.draws import sampler

Arch = tuple[int, ...]
"""An architecture: one integer choice per categorical decision (hashable, immutable)."""


class SearchSpace:
    """A space of architectures made of independent categorical decisions.

    ``choices[i]`` is the number of options of decision ``i`` (NB201: 6 edges x 5 ops;
    SPOS: 20 blocks x 4 choice blocks). Subclasses add a string form and, where the
    space has one, a constraint (``is_valid``), e.g. a FLOPs limit.
    """

    name: str = "space"
    choices: tuple[int, ...] = ()
    enumerate_limit: int = 1_000_000
    """Largest space (``size``, before the constraint) that :meth:`enumerate` lists."""

    # ---- codec -------------------------------------------------------------------
    def to_str(self, arch: Arch) -> str:
        return ",".join(str(c) for c in arch)

    def from_str(self, text: str) -> Arch:
        try:
            arch = tuple(int(t) for t in text.replace("(", "").replace(")", "").split(","))
        except ValueError:
            raise ValueError(
                f"malformed {self.name} architecture {text!r}: expected "
                f"{len(self.choices)} comma-separated integers"
            ) from None
        self.check(arch)
        return arch

    # ---- validity ----------------------------------------------------------------
    def in_range(self, arch: Arch) -> bool:
        return len(arch) == len(self.choices) and all(
            isinstance(c, (int, np.integer)) and 0 <= c < n for c, n in zip(arch, self.choices)
        )

    def is_valid(self, arch: Arch) -> bool:
        """In range and within the space's constraint (override to add one)."""
        return self.in_range(arch)

    def check(self, arch: Arch) -> Arch:
        """Return ``arch`` as a tuple of ints or raise ``ValueError`` saying why not."""
        arch = tuple(int(c) for c in arch)
        if len(arch) != len(self.choices):
            raise ValueError(
                f"{self.name} architecture has {len(arch)} decisions, expected {len(self.choices)}"
            )
        if not self.in_range(arch):
            raise ValueError(f"{self.name} architecture {arch} has a choice out of range {self.choices}")
        if not self.is_valid(arch):
            raise ValueError(f"{self.name} architecture {arch} violates the space's constraint")
        return arch

    # ---- moves -------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, max_tries: int = 10_000) -> Arch:
        """Uniform over valid architectures (rejection sampling under a constraint)."""
        draw = sampler(rng)  # int(rng.integers(n)), same values and state, without numpy's per-call cost
        for _ in range(max_tries):
            arch = tuple([draw(n) for n in self.choices])
            if self.is_valid(arch):
                return arch
        raise RuntimeError(f"no valid {self.name} architecture found in {max_tries} samples")

    def mutate(self, arch: Arch, rng: np.random.Generator, max_tries: int = 1_000) -> Arch:
        """Change one decision to a different option; always returns a different valid arch."""
        draw = sampler(rng)  # int(rng.integers(n)), same values and state, without numpy's per-call cost
        for _ in range(max_tries):
            i = draw(len(self.choices))
            if self.choices[i] < 2:
                continue
            new = draw(self.choices[i] - 1)
            new += new >= arch[i]
            child = arch[:i] + (new,) + arch[i + 1 :]
            if self.is_valid(child):
                return child
        raise RuntimeError(f"no valid one-decision mutation of {arch} in {max_tries} tries")

    def neighbors(self, arch: Arch) -> list[Arch]:
        """All valid architectures one decision away, in a fixed order."""
        out = []
        for i, n in enumerate(self.choices):
            for c in range(n):
                if c != arch[i]:
                    child = arch[:i] + (c,) + arch[i + 1 :]
                    if self.is_valid(child):
                        out.append(child)
        return out

    def sample_distinct(self, n: int, rng: np.random.Generator) -> list[Arch]:
        """Up to ``n`` distinct valid architectures, uniformly at random (rejection, at most
        ``50 n + 1000`` draws); when ``n`` reaches :attr:`size` (and the space can be enumerated) every
        valid architecture, in a random order."""
        if n >= self.size and self.size <= self.enumerate_limit:
            every = self.enumerate()
            return [every[i] for i in rng.permutation(len(every))]
        seen: dict[Arch, None] = {}
        tries = 0
        while len(seen) < n and tries < 50 * n + 1000:
            seen.setdefault(self.sample(rng), None)
            tries += 1
        return list(seen)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Uniform crossover (each decision from either parent); may violate a constraint."""
        mask = rng.random(len(a)) < 0.5
        return tuple(int(x if m else y) for x, y, m in zip(a, b, mask))

    def encode(self, arch: Arch) -> np.ndarray:
        """One-hot encoding (concatenated per decision), float32, for predictors and critics."""
        out = np.zeros(sum(self.choices), dtype=np.float32)
        offset = 0
        for c, n in zip(arch, self.choices):
            out[offset + c] = 1.0
            offset += n
        return out

    @property
    def size(self) -> int:
        return int(np.prod(self.choices, dtype=np.int64))

    # ---- whole-space helpers -------------------------------------------------------
    def enumerate(self, limit: int | None = None) -> list[Arch]:
        """Every valid architecture, in a fixed order (lexicographic in the choices, the order of
        ``itertools.product``). A space of more than ``limit`` architectures (default
        :attr:`enumerate_limit`) is refused with ``ValueError``."""
        limit = self.enumerate_limit if limit is None else int(limit)
        if self.size > limit:
            raise ValueError(f"space {self.name} has {self.size:,} architectures, more than the {limit:,} "
                             "that enumerate() lists; sample it instead")
        return [a for a in itertools.product(*(range(c) for c in self.choices)) if self.is_valid(a)]

    def has_valid_completion(self, prefix: Sequence[int]) -> bool:
        """Is there a valid architecture whose first decisions are ``prefix``?

        Without a constraint: whenever the prefix is in range. Under one (``is_valid`` overridden),
        the completions are checked one by one up to :attr:`enumerate_limit` of them; a space with a
        larger constraint must override this (e.g. the supernet space: lightest completion vs. its
        FLOPs limit)."""
        prefix = tuple(prefix)
        k = len(prefix)
        if k > len(self.choices) or not all(
            isinstance(c, (int, np.integer)) and 0 <= c < n for c, n in zip(prefix, self.choices)
        ):
            return False
        if k == len(self.choices):
            return self.is_valid(tuple(int(c) for c in prefix))
        if type(self).is_valid is SearchSpace.is_valid:
            return True
        tail = self.choices[k:]
        if int(np.prod(tail, dtype=np.int64)) > self.enumerate_limit:
            raise NotImplementedError(
                f"space {self.name}: override has_valid_completion (too many completions to check)")
        head = tuple(int(c) for c in prefix)
        return any(self.is_valid(head + t) for t in itertools.product(*(range(c) for c in tail)))


@dataclass(frozen=True)
class Observation:
    """What a method may see of an evaluation.

    ``score``: higher is better (validation accuracy in percent, or a proxy score).
    ``cost_s``: seconds this evaluation cost (simulated from a table's cost model, or
    measured); ``cost_kind`` says which (``train``, ``train-simulated``, ``proxy``, ...).
    ``info``: extra non-test facts (FLOPs, epochs, ...); never a test accuracy.
    """

    score: float
    cost_s: float
    cost_kind: str = "train"
    info: dict[str, Any] = field(default_factory=dict)


class Benchmark(ABC):
    """Answers "how good is this architecture, and what did it cost to find out"."""

    name: str = "benchmark"
    dataset: str = ""
    space: SearchSpace

    @abstractmethod
    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        """Evaluate ``arch`` as a search would (validation signal + cost)."""

    @abstractmethod
    def final(self, arch: Arch) -> dict[str, float]:
        """Runner only: final metrics of ``arch`` (``val_acc``, ``test_acc``, ...). Never call from a method."""

    def describe(self) -> dict[str, str]:
        """Provenance written beside every result (data source, fidelity, cost model)."""
        return {"benchmark": self.name, "dataset": self.dataset}

    def sources(self) -> dict[str, str]:
        """Content fingerprints of the data this benchmark reads, ``{role: fingerprint}``.

        For a run's identity: the same path holding another file (a retrained checkpoint, an edited
        table) gives another fingerprint. Default: none.
        """
        return {}

    def announce(self, hints: dict[str, Any]) -> None:  # noqa: B027 - optional hook, no-op by default
        """Public hook through which a method tells the benchmark about its state.

        The runner forwards :meth:`Method.hints` here after each ``tell``. Known keys:

        - ``frozen_prefix``: tuple of choices of the leading decisions that the method has
          frozen; a supernet evaluator may reuse cached features for it (PCF-ES sends it);
        - ``batch``: the index (any hashable value) of the batch of architectures the method is
          asking now; it changes when a new batch begins. A benchmark whose evaluations share
          state may use it for fairness within a batch (the NB201 weight pool snapshots itself
          on a change, so every rollout of a batch inherits from the same pool state). PPO and
          FNAS send it; a method without batches sends nothing.

        A benchmark ignores keys it does not use.
        """

    def reset(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Forget per-run state (announced hints, caches, ledgers); the runner calls it before each run.

        A benchmark object may serve many runs (a grid worker builds it once); nothing one run
        announced or measured may leak into the next.
        """

    def ledger(self) -> dict[str, Any]:
        """Measured cost breakdown (seconds per phase, energy, cache bytes), if any."""
        return {}


@dataclass(frozen=True)
class Record:
    """One line of a trajectory."""

    step: int
    arch: str
    score: float
    cost_s: float
    cum_cost_s: float
    incumbent: str
    incumbent_score: float
    extra: dict[str, Any] = field(default_factory=dict)
