"""The ask/tell method interface and the method registry.

A method is one class in one file of ``methods/``, decorated with
``@register("name")``. Following scikit-learn, ``__init__`` only stores its
parameters; state is built lazily on the first ``ask`` (``_setup``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.core import Arch, Observation, SearchSpace

_REGISTRY: dict[str, type[Method]] = {}


def register(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: make a method available by ``name`` (duplicates are an error)."""

    def deco(cls: type[Method]) -> type[Method]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method name {name!r} is already registered by {_REGISTRY[name].__name__}")
        _REGISTRY[name] = cls
        cls.registered_name = name
        return cls

    return deco


def registry() -> dict[str, type[Method]]:
    from methods import _load_all

    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_method(name: str) -> type[Method]:
    reg = registry()
    if name not in reg:
        raise ValueError(f"unknown method {name!r}; run 'nasrepro list' to see: {', '.join(reg)}")
    return reg[name]


def make_method(name: str, space: SearchSpace, rng: np.random.Generator, **params: Any) -> Method:
    cls = get_method(name)
    try:
        return cls(space, rng, **params)
    except TypeError as err:
        raise ValueError(f"bad parameter for method {name!r}: {err}") from None


class Method:
    """Base class: keeps the history of told observations and recommends the best."""

    registered_name: str = ""

    def __init__(self, space: SearchSpace, rng: np.random.Generator) -> None:
        self.space = space
        self.rng = rng

    # -- lazy state ------------------------------------------------------------
    def _ensure_setup(self) -> None:
        if not getattr(self, "_is_setup", False):
            self.history: list[tuple[Arch, float]] = []
            self._setup()
            self._is_setup = True

    def _setup(self) -> None:
        """Build internal state; called once before the first ask or tell."""

    # -- the protocol ------------------------------------------------------------
    def ask(self) -> Arch:
        self._ensure_setup()
        return self._ask()

    def tell(self, arch: Arch, obs: Observation) -> None:
        self._ensure_setup()
        if not np.isfinite(obs.score):
            raise ValueError(f"non-finite score {obs.score} for {arch}: fix the benchmark or proxy")
        self.history.append((arch, float(obs.score)))
        self._tell(arch, obs)

    def recommend(self) -> Arch:
        """The architecture the method reports: by default the best one it was told."""
        self._ensure_setup()
        if not self.history:
            raise RuntimeError("recommend() before any tell(): the budget allowed no evaluation")
        return max(self.history, key=lambda h: h[1])[0]

    def done(self) -> bool:
        """True when the method has converged and asks for nothing more (the runner stops early)."""
        return False

    def hints(self) -> dict[str, Any]:
        """Announcements for the benchmark (see Benchmark.announce); none by default."""
        return {}

    def step_info(self) -> dict[str, Any]:
        """Extra facts logged with each record (e.g. spared rollouts); none by default."""
        return {}

    # -- to implement ------------------------------------------------------------
    def _ask(self) -> Arch:
        raise NotImplementedError

    def _tell(self, arch: Arch, obs: Observation) -> None:
        pass
