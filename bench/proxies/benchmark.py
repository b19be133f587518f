"""``nb201-zc``: NB201 cells scored by zero-cost proxies on real images, as a benchmark.

Scoring cells is a run like any other (``nasrepro correlate`` and ``reproduce zc-correlation`` are lists
of :class:`~nasrepro.bench.runner.RunSpec` of the ``fixed`` method on this benchmark, given to
``run_grid``), so it gets the runner's resolved settings, resume, executors and provenance; and any
method can search on a proxy directly (``nasrepro run --bench nb201-zc --method rea``).

- ``query(cell)`` builds the NB201 network of the cell with PyTorch's default initialisation drawn
  from ``torch.manual_seed(arch_seed(seed, index))`` (the same weights in any process, order or run)
  and scores it with every proxy of ``proxies`` in one fused pass (:func:`bench.proxies.score_all`) on
  one random training minibatch of ``batch`` images drawn with ``seed`` (zico gets ``zico_batches - 1``
  more, disjoint from it: its official protocol of two loader batches). The observation's score is the
  first proxy's; all scores go in the step record's ``scores``, the cell's NB201 index in ``index``.
- The cost of a query is *measured*, so it is not in the trajectory (which must be byte-identical in any
  process): the cost is 0 there, and each cell's wall and CPU seconds go to the run's ledger
  (``{"cells": [[index, wall_s, cpu_s], ...]}``).
- No test accuracy: ``final`` is empty; the correlation with accuracy is the analysis' business.
- ``sources()``: the SHA-256 of the scored images and labels, so a run is identified by the pixels it
  read, never by a path or a description.
"""

from __future__ import annotations

import hashlib
import time
from functools import cached_property
from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, Benchmark, Observation
from nasrepro.bench.nb201.costs import NUM_CLASSES

DATASETS = tuple(NUM_CLASSES)
INIT = "pytorch-default, seed=SeedSequence([seed, index])"


def normalise_dataset(name: str) -> str:
    key = name.lower().replace("_", "-")
    key = {"imagenet16": "imagenet16-120", "imagenet": "imagenet16-120"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return key


def load_batch(dataset: str, images: str | None, batch: int, seed: int,
               more: int = 0) -> tuple[Any, Any, str] | tuple[Any, Any, str, list[tuple[Any, Any]]]:
    """``(inputs, targets, provenance)``: one random minibatch of the training split. With ``more=k``
    also a list of k further minibatches, disjoint from it and from each other, drawn by the same
    generator after it (the first minibatch is unchanged by asking for more)."""
    from dataclasses import replace

    from nasrepro.bench.data import load_source, minibatch, mnist5k

    n_classes = NUM_CLASSES[dataset]
    if images == "mnist":  # the offline stand-in, asked for by name
        src = mnist5k()
        src = replace(src, num_classes=n_classes, provenance=f"{src.provenance} (used for {dataset})")
    else:
        src = load_source(dataset, images, split="train")
    if src.num_classes > n_classes:
        raise ValueError(f"{src.name} has {src.num_classes} classes but the {dataset} network has {n_classes} outputs")
    rng = np.random.default_rng(seed)
    x, y = minibatch(src, batch, rng)
    if x.shape[1] != 3:
        raise ValueError(f"images must have 3 channels for the NB201 network, got shape {tuple(x.shape[1:])}")
    if not more:
        return x, y, src.provenance
    # minibatch() drew rng.choice(N, batch); redo that draw on a twin generator to know which images
    # it took, then continue with the caller's generator on the images left
    taken = np.random.default_rng(seed).choice(len(src), size=batch, replace=False)
    left = np.setdiff1d(np.arange(len(src)), taken)
    if len(left) < more * batch:
        raise ValueError(f"{src.name} has {len(src)} images, too few for {more + 1} disjoint batches of {batch}")
    extra_idx = rng.choice(left, size=more * batch, replace=False)
    extra = [(src.x[extra_idx[k * batch:(k + 1) * batch]], src.y[extra_idx[k * batch:(k + 1) * batch]])
             for k in range(more)]
    return x, y, src.provenance, extra


def proxy_names(proxies: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"synflow,snip"`` or a sequence -> the registered names, in order (aliases resolved)."""
    from nasrepro.bench.proxies.registry import resolve_proxies

    return resolve_proxies(proxies.split(",") if isinstance(proxies, str) else list(proxies))


class ProxyBenchmark(Benchmark):
    """See the module docstring. Built by :func:`make_nb201_zc`; ``__init__`` only stores."""

    name = "nb201-zc"

    def __init__(self, dataset: str, proxies: tuple[str, ...], batch: int, seed: int, images: str | None,
                 zico_batches: int) -> None:
        from nasrepro.bench.nb201.space import NB201Space

        self.dataset, self.proxies, self.batch, self.seed = dataset, proxies, batch, seed
        self.images, self.zico_batches = images, zico_batches
        self.space = NB201Space()
        self._cells: list[list[float]] = []

    @cached_property
    def _data(self) -> tuple[Any, Any, str, list[tuple[Any, Any]]]:
        more = self.zico_batches - 1 if "zico" in self.proxies else 0
        loaded = load_batch(self.dataset, self.images, self.batch, self.seed, more=more)
        return loaded[0], loaded[1], loaded[2], list(loaded[3]) if len(loaded) > 3 else []

    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        import torch
        from nasrepro.bench.nb201.network import build_nb201_net
        from nasrepro.bench.proxies import arch_seed, score_all, seeded_net

        x, y, _, extra = self._data
        index = self.space.index(arch)
        net = seeded_net(lambda: build_nb201_net(arch, num_classes=NUM_CLASSES[self.dataset]),
                         arch_seed(self.seed, index))
        batches = [(torch.as_tensor(a), torch.as_tensor(b)) for a, b in extra] if extra else None
        t0, c0 = time.perf_counter(), time.process_time()
        scores = score_all(net, torch.as_tensor(x), torch.as_tensor(y), self.proxies, extra_batches=batches)
        self._cells.append([index, time.perf_counter() - t0, time.process_time() - c0])
        scores = {p: float(scores[p]) for p in self.proxies}
        return Observation(score=scores[self.proxies[0]], cost_s=0.0, cost_kind="proxy",
                           info={"index": index, "scores": scores})

    def final(self, arch: Arch) -> dict[str, float]:
        return {}

    def describe(self) -> dict[str, str]:
        return {"benchmark": self.name, "dataset": self.dataset, "proxies": ",".join(self.proxies),
                "images": self._data[2], "init": INIT}

    def sources(self) -> dict[str, str]:
        x, y, _, extra = self._data
        h = hashlib.sha256()
        for a in (x, y, *(t for pair in extra for t in pair)):
            arr = np.ascontiguousarray(np.asarray(a))
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(arr.tobytes())
        return {"images": "sha256:" + h.hexdigest()}

    def reset(self) -> None:
        self._cells = []

    def ledger(self) -> dict[str, Any]:
        return {"cells": [list(c) for c in self._cells]}


def make_nb201_zc(dataset: str = "cifar10", proxies: str | tuple[str, ...] = "synflow", batch: int | str = 64,
                  seed: int | str = 0, images: str | None = None, zico_batches: int | str = 2,
                  **opts: Any) -> ProxyBenchmark:
    """The ``nb201-zc`` benchmark: ``proxies`` a comma-separated list (the first is the score a search
    sees), ``batch`` images per minibatch, ``seed`` for the minibatch and every cell's initialisation,
    ``images`` as ``nasrepro correlate --images`` (an ``.npz``, a torchvision root, ``mnist``, or None
    for the shared files through ``$NASREPRO_DATA``), ``zico_batches`` minibatches for zico."""
    if opts:
        raise ValueError(f"unknown nb201-zc option(s) {', '.join(sorted(opts))}; accepted: dataset, proxies, "
                         "batch, seed, images, zico_batches")
    try:
        batch, seed, zico_batches = int(batch), int(seed), int(zico_batches)
    except (TypeError, ValueError):
        raise ValueError(f"nb201-zc: batch, seed and zico_batches must be integers, got {batch!r}, {seed!r}, "
                         f"{zico_batches!r}") from None
    if batch < 1 or seed < 0 or zico_batches < 1:
        raise ValueError("nb201-zc: need batch >= 1, seed >= 0 and zico_batches >= 1")
    return ProxyBenchmark(normalise_dataset(dataset), proxy_names(proxies), batch, seed,
                          None if images in (None, "") else str(images), zico_batches)
