"""Benchmark registry: name -> factory(dataset=..., **options) -> Benchmark.

Factories are registered lazily by import path so that ``nasrepro list`` does not
import torch for tabular-only work.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from nasrepro.bench.core import Benchmark

# name -> "module:function"; each factory takes keyword options and returns a Benchmark.
_FACTORIES: dict[str, str] = {
    "nb201": "nasrepro.bench.nb201.benchmark:make_nb201",
    "nb201-live": "nasrepro.bench.nb201.live:make_nb201_live",
    "nb201-zc": "nasrepro.bench.proxies.benchmark:make_nb201_zc",
    "supernet": "nasrepro.bench.supernet.benchmark:make_supernet",
    "toy": "nasrepro.bench.toy:make_toy",
}
_DESCRIPTIONS: dict[str, str] = {
    "nb201": "NAS-Bench-201 tabular (15,625 cells; cifar10, cifar100, imagenet16-120)",
    "nb201-live": "NB201 cells trained for real (mnist stand-in | cifar10; config tiny|small|medium|nb201)",
    "nb201-zc": "NB201 cells scored by zero-cost proxies on real images (dataset, proxies, batch, seed, images)",
    "supernet": "SPOS ShuffleNetV2 supernet (imagenet | cifar10-small | mnist-small): inherited-weight subnets",
    "toy": "synthetic, instant (tests and trying out a method)",
}


def register_benchmark(name: str, target: str, description: str) -> None:
    if name in _FACTORIES and _FACTORIES[name] != target:
        raise ValueError(f"benchmark {name!r} is already registered")
    _FACTORIES[name] = target
    _DESCRIPTIONS[name] = description


def benchmarks() -> dict[str, str]:
    return dict(sorted(_DESCRIPTIONS.items()))


def state_options(name: str, options: dict[str, Any]) -> set[str]:
    """Options of ``name`` that are run *state* (a folder the run writes, e.g. a weight pool), as its
    factory declares them (``factory.state_options(options)``), without building the benchmark: a run
    is identified by such an option being set, not by the folder's changing content."""
    module, func = _FACTORIES[name].split(":") if name in _FACTORIES else ("", "")
    if not module:
        return set()
    declare = getattr(getattr(importlib.import_module(module), func), "state_options", None)
    return set(declare(options)) if callable(declare) else set()


def make_benchmark(name: str, **options: Any) -> Benchmark:
    if name not in _FACTORIES:
        raise ValueError(f"unknown benchmark {name!r}; choose one of: {', '.join(sorted(_FACTORIES))}")
    module, func = _FACTORIES[name].split(":")
    factory: Callable[..., Benchmark] = getattr(importlib.import_module(module), func)
    return factory(**options)
