"""Writers of small (or large) files in the exact official NAS-Bench-201 / NATS-Bench formats.

The layout follows what the official code writes and reads (nothing here is copied data):

- ``NAS-Bench-201-v1_{0,1}-*.pth`` (AutoDL-Projects ``exps/NAS-Bench-201/statistics*.py``,
  read by ``nas_201_api.NASBench201API``): ``torch.save`` of
  ``{'meta_archs': [15,625 arch strings], 'total_archs': 15625, 'arch2infos': {index:
  {'full': ArchResults.state_dict(), 'less': ArchResults.state_dict()}}, 'evaluated_indexes':
  sorted list}``. 'less' is the 12-epoch schedule (hp='12'), 'full' the 200-epoch one.
- NATS-tss (``nats_bench.create(path, 'tss', fast_mode=...)``): a directory
  ``NATS-tss-v1_0-3ffb9-simple`` with ``meta.pickle.pbz2`` (``meta_archs``, ``total_archs``,
  ``arch2infos=None``, ``evaluated_indexes=set()``) and one ``{index:06d}.pickle.pbz2`` per
  architecture holding ``OrderedDict('12': state, '200': state)``; or one
  ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` with ``arch2infos={index: {'12':..., '200':...}}``.
  The simple files keep the 200-epoch accuracies/losses of every epoch only for the
  "main" evaluation set (x-valid for cifar10-valid, ori-test otherwise) and the last epoch
  of the others, but eval times for every epoch (checked against the 3-arch sample the
  NATS-Bench repository ships in ``fake_torch_dir``).

An ``ArchResults`` state is ``{'arch_index', 'arch_str', 'all_results': {(dataset, seed):
ResultsCount state}, 'dataset_seed': {dataset: sorted seeds}, 'clear_net_done'}``; a
``ResultsCount`` state is its ``__dict__``: per-epoch dicts ``train_acc1es``/``train_losses``/
``train_times`` keyed by epoch, ``eval_acc1es``/``eval_losses``/``eval_times`` keyed
``'<set>@<epoch>'``, plus ``params``, ``flop``, ``latency`` (a list, seconds), ``seed`` (the
string '0777'), ``epochs``, ``eval_names``, ``arch_config`` and ``net_state_dict=None``.

Values are synthetic but shaped like the real ones (accuracy curves that rise to a per-arch
final value, per-epoch times proportional to FLOPs and the data set size, times equal across
seeds as in v1_1's calibrated times). Everything is drawn from one ``numpy`` Generator.
"""

from __future__ import annotations

import bz2
import collections
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.nb201 import space as nb201

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
INPUT = {"cifar10-valid": 32, "cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}
TRAIN_N = {"cifar10-valid": 25_000, "cifar10": 50_000, "cifar100": 50_000, "ImageNet16-120": 151_700}
EVAL_N = {"x-valid": {"cifar10-valid": 25_000, "cifar100": 5_000, "ImageNet16-120": 3_000},
          "x-test": {"cifar100": 5_000, "ImageNet16-120": 3_000},
          "ori-test": {"cifar10-valid": 10_000, "cifar10": 10_000, "cifar100": 10_000, "ImageNet16-120": 6_000}}
EVAL_NAMES = {
    "cifar10-valid": ["x-valid", "ori-test"],
    "cifar10": ["ori-test"],
    "cifar100": ["x-valid", "x-test", "ori-test"],
    "ImageNet16-120": ["x-valid", "x-test", "ori-test"],
}
# Rough accuracy ceilings per data set (percent), so the synthetic values look like NB201's.
CEILING = {"cifar10-valid": 91.5, "cifar10": 94.4, "cifar100": 73.5, "ImageNet16-120": 47.0}
FULL_SEEDS = (777, 888, 999)
LESS_SEEDS = {"v1_0": {"cifar10-valid": (777, 888)},
              "v1_1": {"cifar10-valid": (111, 777), "cifar10": (111,), "cifar100": (111,), "ImageNet16-120": (111,)}}
NATS_SIMPLE_DIR = "NATS-tss-v1_0-3ffb9-simple"
NATS_FULL_FILE = "NATS-tss-v1_0-3ffb9.pickle.pbz2"


def meta_archs() -> list[str]:
    """All 15,625 arch strings in the official index order."""
    return [nb201.to_str(a) for a in nb201.all_archs()]


def _curve(rng: np.random.Generator, final: float, epochs: int, noise: float) -> list[float]:
    e = np.arange(1, epochs + 1)
    curve = final * (1.0 - 0.75 * np.exp(-5.0 * e / epochs)) + rng.normal(0.0, noise, epochs)
    curve[-1] = final
    return [float(min(max(v, 0.0), 100.0)) for v in curve]


def result_count_state(
    rng: np.random.Generator,
    arch: tuple[int, ...],
    dataset: str,
    seed: int,
    epochs: int,
    quality: float,
    *,
    time_jitter: bool,
    simple_eval: bool,
) -> dict[str, Any]:
    """One trial (``ResultsCount.state_dict()``) of ``arch`` on ``dataset``."""
    arch_str = nb201.to_str(arch)
    k = CLASSES[dataset]
    flop = nb201.flops_m(arch, k, INPUT[dataset])
    params = np.float64(nb201.params_m(arch, k))  # numpy scalar, as in the real files
    sched = min(1.0, 0.55 + 0.45 * epochs / 200)  # 12-epoch training ends lower
    chance = 100.0 / k
    final_train = chance + (min(100.0, CEILING[dataset] * 1.06) - chance) * quality * sched
    # per-epoch train seconds ~ FLOPs x images; identical for all seeds (v1_1 calibrated times)
    t_rng = np.random.default_rng((nb201.arch_to_index(arch), DATASETS.index(dataset), epochs))
    per_epoch = (0.5 + flop / 20.0) * TRAIN_N[dataset] / 25_000 * (1.0 + 0.1 * t_rng.random())
    train_times = collections.OrderedDict(
        (i, float(per_epoch * (1.0 + (0.05 * t_rng.standard_normal() if time_jitter else 0.0))))
        for i in range(epochs)
    )
    curve = _curve(rng, final_train, epochs, 1.0)
    eval_acc1es: dict[str, float] = {}
    eval_losses: dict[str, float] = {}
    eval_times: dict[str, float] = {}
    main = "x-valid" if dataset == "cifar10-valid" else "ori-test"
    for name in EVAL_NAMES[dataset]:
        final = chance + (CEILING[dataset] - chance) * quality * sched + rng.normal(0.0, 0.3)
        acc = _curve(rng, float(min(max(final, 0.0), 100.0)), epochs, 1.5)
        per_eval = 0.2 * per_epoch * EVAL_N[name][dataset] / TRAIN_N[dataset]
        for i in range(epochs):
            key = f"{name}@{i}"
            eval_times[key] = float(per_eval * (1.0 + (0.05 * t_rng.standard_normal() if time_jitter else 0.0)))
            if simple_eval and name != main and i != epochs - 1:
                continue
            eval_acc1es[key] = acc[i]
            eval_losses[key] = float(-np.log(max(acc[i], 0.5) / 100.0) + 0.1)
    return {
        "name": dataset,
        "train_acc1es": dict(enumerate(curve)),
        "train_acc5es": None if epochs == 200 else {i: min(100.0, v * 1.3) for i, v in enumerate(curve)},
        "train_losses": {i: float(-np.log(max(v, 0.5) / 100.0)) for i, v in enumerate(curve)},
        "train_times": train_times,
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch_str, "class_num": k},
        "params": params,
        "flop": float(flop),
        "seed": f"{seed:04d}",
        "epochs": epochs,
        "latency": [np.float64(0.005 + flop / 5000.0)],
        "eval_names": list(EVAL_NAMES[dataset]),
        "eval_acc1es": eval_acc1es,
        "eval_times": eval_times,
        "eval_losses": eval_losses,
        "net_state_dict": None,
    }


def arch_results_state(
    rng: np.random.Generator,
    index: int,
    seeds: dict[str, Iterable[int]],
    epochs: int,
    qualities: dict[str, float],
    *,
    time_jitter: bool,
    simple_eval: bool,
) -> dict[str, Any]:
    """``ArchResults.state_dict()`` of architecture ``index`` for one schedule."""
    arch = nb201.index_to_arch(index)
    all_results: dict[tuple[str, int], dict[str, Any]] = {}
    dataset_seed: dict[str, list[int]] = {}
    for dataset, ds_seeds in seeds.items():
        for seed in ds_seeds:
            q = float(np.clip(qualities[dataset] + rng.normal(0.0, 0.01), 0.0, 1.0))
            all_results[(dataset, int(seed))] = result_count_state(
                rng, arch, dataset, int(seed), epochs, q, time_jitter=time_jitter, simple_eval=simple_eval
            )
        dataset_seed[dataset] = sorted(int(s) for s in ds_seeds)
    return {
        "arch_index": index,
        "arch_str": nb201.to_str(arch),
        "all_results": all_results,
        "dataset_seed": dataset_seed,
        "clear_net_done": True,
    }


def _qualities(rng: np.random.Generator, index: int) -> dict[str, float]:
    arch = nb201.index_to_arch(index)
    n_conv = sum(1 for c in arch if nb201.OPS[c].startswith("nor_conv"))
    n_none = sum(1 for c in arch if nb201.OPS[c] == "none")
    base = float(np.clip(0.55 + 0.07 * n_conv - 0.04 * n_none + rng.normal(0.0, 0.05), 0.02, 1.0))
    return {d: float(np.clip(base + rng.normal(0.0, 0.02), 0.0, 1.0)) for d in DATASETS}


def _full_seeds(rng: np.random.Generator, realistic: bool) -> dict[str, tuple[int, ...]]:
    # v1_1: 2225 archs trained once, 5439 twice, 7961 three times (api_201.py header)
    n = 3 if not realistic else int(rng.choice([1, 2, 3], p=[2225 / 15625, 5439 / 15625, 7961 / 15625]))
    return {d: FULL_SEEDS[:n] for d in DATASETS}


def nb201_pth_dict(
    indices: Iterable[int],
    *,
    version: str = "v1_1",
    seed: int = 0,
    time_jitter: bool = True,
    realistic_seed_counts: bool = False,
) -> dict[str, Any]:
    """The dict that ``NAS-Bench-201-<version>-*.pth`` holds, for the given arch indices."""
    if version not in LESS_SEEDS:
        raise ValueError(f"unknown NB201 file version {version!r}; expected v1_0 or v1_1")
    rng = np.random.default_rng(seed)
    arch2infos: dict[int, dict[str, Any]] = {}
    for index in sorted(set(int(i) for i in indices)):
        q = _qualities(rng, index)
        full = arch_results_state(rng, index, _full_seeds(rng, realistic_seed_counts), 200, q,
                                  time_jitter=time_jitter, simple_eval=False)
        less = arch_results_state(rng, index, LESS_SEEDS[version], 12, q,
                                  time_jitter=time_jitter, simple_eval=False)
        arch2infos[index] = {"full": full, "less": less}
    return {
        "meta_archs": meta_archs(),
        "total_archs": nb201.N_ARCHS,
        "arch2infos": arch2infos,
        "evaluated_indexes": sorted(arch2infos),
    }


def write_nb201_pth(path: Path | str, indices: Iterable[int], *, zip_format: bool = False, **kwargs: Any) -> Path:
    """Write an official-format ``.pth`` (torch.save of :func:`nb201_pth_dict`).

    The 2020 files predate torch 1.6, so by default the legacy (non-zip) torch layout is
    written; ``zip_format=True`` writes what a current ``torch.save`` writes.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(nb201_pth_dict(indices, **kwargs), path, _use_new_zipfile_serialization=zip_format)
    return path


def _nats_arch(rng: np.random.Generator, index: int, time_jitter: bool) -> collections.OrderedDict:
    q = _qualities(rng, index)
    less = arch_results_state(rng, index, LESS_SEEDS["v1_1"], 12, q, time_jitter=time_jitter, simple_eval=False)
    full = arch_results_state(rng, index, {d: FULL_SEEDS for d in DATASETS}, 200, q,
                              time_jitter=time_jitter, simple_eval=True)
    return collections.OrderedDict([("12", less), ("200", full)])


def _pbz2(obj: Any, path: Path) -> None:
    with bz2.BZ2File(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=4)


def write_nats_tss(
    root: Path | str, indices: Iterable[int], *, simple: bool = True, seed: int = 0, time_jitter: bool = True
) -> Path:
    """Write NATS-tss under ``root``: the ``-simple`` directory (fast mode) or the one ``.pickle.pbz2``.

    Returns the path to give ``nats_bench.create`` (the directory or the file).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    indices = sorted(set(int(i) for i in indices))
    if simple:
        out = root / NATS_SIMPLE_DIR
        out.mkdir(parents=True, exist_ok=True)
        meta = {"meta_archs": meta_archs(), "total_archs": nb201.N_ARCHS, "arch2infos": None,
                "evaluated_indexes": set()}
        _pbz2(meta, out / "meta.pickle.pbz2")
        for index in indices:
            _pbz2(_nats_arch(rng, index, time_jitter), out / f"{index:06d}.pickle.pbz2")
        return out
    root.mkdir(parents=True, exist_ok=True)
    out = root / NATS_FULL_FILE
    data = {"meta_archs": meta_archs(), "total_archs": nb201.N_ARCHS,
            "arch2infos": {i: _nats_arch(rng, i, time_jitter) for i in indices},
            "evaluated_indexes": set(indices)}
    _pbz2(data, out)
    return out
