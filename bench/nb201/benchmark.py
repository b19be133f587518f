"""The NAS-Bench-201 tabular benchmark: a table plus the NB201 search protocol.

A method sees ``Observation(score=validation accuracy at the configured fidelity, cost_s=
simulated training seconds)``; the runner alone calls :meth:`NB201Tabular.final` for the
200-epoch validation/test accuracy of the recommended cell. Fidelity ``"12"`` (default) is
the NB201 paper's protocol for RS/REA/REINFORCE/BOHB: the 12-epoch validation accuracy as the
signal, the 12-epoch training time as the cost, 12,000 s of it as the budget.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, Benchmark, Observation
from nasrepro.bench.nb201 import space as nb201
from nasrepro.bench.nb201.costs import FlopsCostModel
from nasrepro.bench.nb201.space import NB201Space
from nasrepro.bench.nb201.tables import (
    DATASETS,
    NB201Table,
    default_table_path,
    load_embedded,
    load_table,
    normalize_dataset,
)

FIDELITIES = ("12", "200")
_ALL_DATASET_TABLES = (
    "the shared CSV ($NASREPRO_DATA/nb201/nb201_accuracy.csv) and the official NB201/NATS-tss files "
    "have all of " + ", ".join(DATASETS)
)


class NB201Tabular(Benchmark):
    """Table lookups under the NB201 protocol. Build it with :func:`make_nb201`."""

    name = "nb201"

    def __init__(
        self,
        table: NB201Table,
        dataset: str = "cifar10",
        fidelity: str = "12",
        seed_noise: bool = False,
        cost_scaling: str = "nb201",
        latency: tuple[Any, str, float | None] | None = None,
    ) -> None:
        self.space = NB201Space()
        # latency: (LatencyTable, device, limit_ms or None); a limit makes the space a latency budget
        self._latency_ms: list[float] | None = None
        self._latency_note: dict[str, str] = {}
        if latency is not None:
            from nasrepro.bench.nb201.latency import LatencySpace

            lat_table, device, limit = latency
            column = lat_table.column(device)
            self._latency_ms = column.tolist()
            name = lat_table.devices[lat_table.device_index(device)]
            self._latency_note = {"latency_device": name, "latency_source": lat_table.source,
                                  "latency_limit_ms": "none (recorded only)" if limit is None else f"{limit:g}"}
            self._latency_file = lat_table.source
            if limit is not None:
                self.space = LatencySpace(column, float(limit), name)
                self._latency_note["latency_valid_cells"] = f"{self.space.n_valid:,} of {nb201.N_ARCHS:,}"
        self.table = table
        self.dataset = normalize_dataset(dataset)
        self.fidelity = str(fidelity).strip().lower().removesuffix("epochs").removesuffix("ep").strip()
        if self.fidelity not in FIDELITIES:
            raise ValueError(
                f"unknown NB201 fidelity {fidelity!r}; choose one of: {', '.join(FIDELITIES)} (epochs)"
            )
        if not table.has(self.dataset):
            raise ValueError(
                f"table {table.source} has no {self.dataset} data (it has: {', '.join(table.datasets)}); "
                f"{_ALL_DATASET_TABLES}"
            )
        self.epochs = int(self.fidelity)
        self._d = table.datasets.index(self.dataset)
        self.signal_metric = f"val_{self.fidelity}"
        self.signal_note = f"validation accuracy after {self.fidelity} epochs"
        if not table.has(self.dataset, self.signal_metric):
            fallback = table.notes.get("signal_fallback")
            if not fallback:
                raise ValueError(
                    f"table {table.source} has no {self.signal_metric} for {self.dataset}; "
                    f"use fidelity {'200' if self.fidelity == '12' else '12'} or another table"
                )
            self.signal_metric = fallback
            self.signal_note = table.notes.get("signal", "the table has no validation accuracy")
        if not table.has(self.dataset, "test_200"):
            raise ValueError(
                f"table {table.source} has no 200-epoch test accuracy for {self.dataset}; use another table"
            )
        self.seed_noise = bool(seed_noise)
        if self.seed_noise and (self.fidelity != "12" or table.val_seeds_12 is None):
            raise ValueError(
                "seed_noise draws one recorded 12-epoch trial per query and needs an official NB201/NATS "
                "table with per-trial values and fidelity 12; drop seed_noise or pass such a --table"
            )
        self.cost_model = FlopsCostModel(self.dataset, cost_scaling)
        self._recorded_cost = table.has(self.dataset, f"cost_{self.fidelity}_s")
        self._num_classes = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}[self.dataset]
        self._input_size = 16 if self.dataset == "imagenet16-120" else 32
        self._precompute()

    # ---- per-cell arrays -------------------------------------------------------------------
    def _precompute(self) -> None:
        """Per-cell values by official index, so that a query is a lookup (``None``: ask the table).

        Same numbers as the per-query computation (:meth:`_query_reference`; a test compares every
        cell): a table value where it is finite, else the analytical FLOPs/params and the cost model.
        Those formulas depend on a cell only through its numbers of 3x3 and 1x1 convolutions (see
        :func:`bench.nb201.space.flops_m`), so each is evaluated once per count pair (21 pairs).
        """
        order = _order_array()
        present = np.zeros(nb201.N_ARCHS, dtype=bool)
        present[self.table.index] = True
        self._present = present.tolist()
        conv3 = (order == nb201.OPS.index("nor_conv_3x3")).sum(axis=1)
        conv1 = (order == nb201.OPS.index("nor_conv_1x1")).sum(axis=1)
        key = conv3 * (len(nb201.EDGES) + 1) + conv1
        flops_f, params_f, cost_f = {}, {}, {}
        for k in np.unique(key).tolist():
            rep = nb201.index_to_arch(int(np.flatnonzero(key == k)[0]))
            flops_f[k] = nb201.flops_m(rep, self._num_classes, self._input_size)
            params_f[k] = nb201.params_m(rep, self._num_classes)
            cost_f[k] = self.cost_model.cost_s(rep, self.epochs)

        def per_cell(by_key: dict[int, float]) -> np.ndarray:
            return np.array([by_key.get(k, np.nan) for k in range(int(key.max()) + 1)])[key]

        def fill(metric: str, by_key: dict[int, float]) -> np.ndarray:
            values = self.table.column(self.dataset, metric)
            return np.where(np.isfinite(values), values, per_cell(by_key))

        self._flops = fill("flops_m", flops_f).tolist()
        self._params = fill("params_m", params_f).tolist()
        model_cost = per_cell(cost_f)
        recorded = (
            self.table.column(self.dataset, f"cost_{self.fidelity}_s")
            if self._recorded_cost
            else np.full(nb201.N_ARCHS, np.nan)
        )
        self._cost = np.where(np.isfinite(recorded), recorded, model_cost).tolist()
        self._cost_source = np.where(np.isfinite(recorded), "table", "model").tolist()
        score = self.table.column(self.dataset, self.signal_metric)
        # NaN: the cell is absent or has no signal; such a query takes the reference path and its error
        self._score: list[float | None] = [None if not np.isfinite(v) else v for v in score.tolist()]
        # One Observation per cell, made on its first query (frozen; treat its info as read-only)
        self._obs: dict[Arch, Observation] = {}

    # ---- protocol ------------------------------------------------------------------------
    def _value(self, arch: Arch, metric: str) -> float:
        return self.table.get(arch, self.dataset, metric)

    def _required(self, arch: Arch, metric: str) -> float:
        value = self._value(arch, metric)
        if not np.isfinite(value):
            raise ValueError(
                f"table {self.table.source} has no {metric} for {self.space.to_str(arch)} on {self.dataset}"
            )
        return value

    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        # The runner checked `arch` (space.check) before asking: a known cell is one dict lookup.
        try:
            return self._obs[arch]
        except (KeyError, TypeError):
            pass
        if self.seed_noise:
            return self._query_reference(arch, rng)
        arch = self.space.check(arch)
        i = nb201._official_index()[arch]  # = arch_to_index(arch) for a checked cell (a tuple of ints)
        score = self._score[i]
        if score is None:  # absent cell or no signal: the reference path raises the one-line error
            return self._query_reference(arch, rng)
        info = {"epochs": self.epochs, "flops_m": self._flops[i], "cost_source": self._cost_source[i]}
        if self._latency_ms is not None:
            info["latency_ms"] = self._latency_ms[i]
        obs = self._obs[arch] = Observation(
            score=score, cost_s=self._cost[i], cost_kind="train-simulated", info=info
        )
        return obs

    def _query_reference(self, arch: Arch, rng: np.random.Generator) -> Observation:
        """The per-query computation (seed noise, error messages; the fast path's reference in tests)."""
        arch = self.space.check(arch)
        if self.seed_noise:
            trials = self.table.seeds(arch, self.dataset)
            if trials.size == 0:
                raise ValueError(
                    f"table {self.table.source} has no per-trial 12-epoch values for {self.space.to_str(arch)}"
                )
            score = float(trials[int(rng.integers(trials.size))])
        else:
            score = self._required(arch, self.signal_metric)
        cost, source = self._cost_s_reference(arch)
        info = {"epochs": self.epochs, "flops_m": self._flops_m_reference(arch), "cost_source": source}
        if self._latency_ms is not None:
            info["latency_ms"] = self._latency_ms[nb201.arch_to_index(arch)]
        return Observation(score=score, cost_s=cost, cost_kind="train-simulated", info=info)

    def cost_s(self, arch: Arch) -> tuple[float, str]:
        """Simulated seconds of one evaluation and where they come from (``table`` or ``model``)."""
        # as the per-query computation: a cell outside the table is an error only where times are recorded
        i = self._cell(arch) if self._recorded_cost else nb201.arch_to_index(self.space.check(arch))
        return self._cost[i], self._cost_source[i]

    def _cost_s_reference(self, arch: Arch) -> tuple[float, str]:
        if self._recorded_cost:
            recorded = self._value(arch, f"cost_{self.fidelity}_s")
            if np.isfinite(recorded):
                return float(recorded), "table"
        return self.cost_model.cost_s(arch, self.epochs), "model"

    def _cell(self, arch: Arch) -> int:
        """Official index of a cell of the table (else the table's one-line ``ValueError``)."""
        arch = self.space.check(arch)
        i = nb201.arch_to_index(arch)
        if not self._present[i]:
            self.table.row(arch)  # raises: not in the table
        return i

    def flops_m(self, arch: Arch) -> float:
        return self._flops[self._cell(arch)]

    def params_m(self, arch: Arch) -> float:
        return self._params[self._cell(arch)]

    def _flops_m_reference(self, arch: Arch) -> float:
        value = self._value(arch, "flops_m")
        return (
            float(value) if np.isfinite(value) else nb201.flops_m(arch, self._num_classes, self._input_size)
        )

    def _params_m_reference(self, arch: Arch) -> float:
        value = self._value(arch, "params_m")
        return float(value) if np.isfinite(value) else nb201.params_m(arch, self._num_classes)

    def final(self, arch: Arch) -> dict[str, float]:
        """200-epoch validation and test accuracy (percent), params and FLOPs.

        ``val_acc`` is NaN where the table has no 200-epoch validation accuracy (the embedded
        table); it is never replaced by another number.
        """
        arch = self.space.check(arch)
        out = {
            "val_acc": float(self._value(arch, "val_200")),
            "test_acc": float(self._required(arch, "test_200")),
            "params_m": self.params_m(arch),
            "flops_m": self.flops_m(arch),
        }
        if self._latency_ms is not None:
            out["latency_ms"] = self._latency_ms[nb201.arch_to_index(arch)]
        return out

    def describe(self) -> dict[str, str]:
        # The runner asks once per run; the table is read-only, so the answer is built once (a copy each time).
        cached = self.__dict__.get("_describe")
        if cached is None:
            cached = self._describe = self._build_describe()
        return dict(cached)

    def _build_describe(self) -> dict[str, str]:
        if self._recorded_cost:
            cost = f"recorded official times (cost_{self.fidelity}_s), FLOPs model where a cell has none: "
        else:
            cost = "no recorded times in this table: "
        out = {
            "benchmark": self.name,
            "dataset": self.dataset,
            "fidelity": f"{self.fidelity} epochs",
            "signal": f"{self.signal_metric}: {self.signal_note}",
            "seed_noise": "one random recorded trial per query"
            if self.seed_noise
            else "off (trial mean or single recorded run)",
            "final": "test_200: test accuracy after 200 epochs (percent); val_200 beside it",
            "cost_model": cost + self.cost_model.describe(),
        }
        out.update(self.table.describe())  # includes table_path: the file used, or embedded:<name>
        out.update(self._latency_note)
        return out

    def sources(self) -> dict[str, str]:
        """``{"table": fingerprint}`` of the table file (embedded default: of its data), and the latency table."""
        out = dict(self.table.sources())
        if self._latency_ms is not None:
            from nasrepro.bench.io import file_fingerprint

            out["latency"] = file_fingerprint(self._latency_file)
        return out


@lru_cache(maxsize=1)
def _order_array() -> np.ndarray:
    """All cells as a (15625, 6) array of op indices, row = official index."""
    return np.array(nb201.all_archs(), dtype=np.int8)


@lru_cache(maxsize=1)
def _embedded_cached() -> NB201Table:
    return load_embedded()


@lru_cache(maxsize=4)
def _load_cached(path: str | None, stamp: float) -> NB201Table:
    # Keyed by modification time so a rewritten file is reloaded; tables are read-only.
    return load_table(path)


def _resolve(table: str | os.PathLike[str] | None) -> tuple[str | None, float]:
    if table is None:
        return None, 0.0
    path = Path(table).expanduser()
    return str(path), path.stat().st_mtime if path.exists() else 0.0


def make_nb201(
    dataset: str = "cifar10",
    table: str | os.PathLike[str] | NB201Table | None = None,
    fidelity: str | int = "12",
    seed_noise: bool = False,
    cost_scaling: str = "nb201",
    latency_device: str | None = None,
    latency_limit_ms: float | str | None = None,
    latency_table: str | os.PathLike[str] | None = None,
    **opts: Any,
) -> NB201Tabular:
    """The NB201 tabular benchmark.

    ``table``: a path (shared CSV, compact ``.npz``, official ``.pth``/NATS file or folder),
    an :class:`NB201Table`, or None for ``$NASREPRO_DATA/nb201/nb201_accuracy.csv`` when
    present, else the embedded CIFAR-10 table of ``analog-nasbench``. ``cost_scaling``: how
    the FLOPs cost model (used where the table has no recorded times) treats the data sets,
    ``"nb201"`` (the paper's protocol, default) or ``"images"``; see :mod:`bench.nb201.costs`.
    ``latency_device`` (+ ``latency_limit_ms``): hardware-aware search (:mod:`bench.nb201.latency`): each
    record carries the cell's measured latency on that device, and a limit makes it the space's constraint.
    """
    if opts:
        raise ValueError(
            f"unknown nb201 option(s) {', '.join(sorted(opts))}; accepted: dataset, table, fidelity, seed_noise, "
            "cost_scaling, latency_device, latency_limit_ms, latency_table"
        )
    latency = None
    if latency_limit_ms is not None and latency_device is None:
        raise ValueError("latency_limit_ms needs latency_device (e.g. --bench-opt latency_device=pixel3)")
    if latency_device is not None:
        from nasrepro.bench.nb201.latency import load_latency

        limit = None
        if latency_limit_ms is not None:
            try:
                limit = float(latency_limit_ms)
            except ValueError:
                limit = float("nan")
            if not (np.isfinite(limit) and limit > 0):
                raise ValueError(f"latency_limit_ms={latency_limit_ms!r}: give a positive number of milliseconds")
        try:
            lat_table = load_latency(latency_table)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"latency_device={latency_device!r} needs the latency table: {err}") from None
        latency = (lat_table, str(latency_device), limit)
    ds = normalize_dataset(dataset)
    if isinstance(table, NB201Table):
        tab = table
    else:
        default = default_table_path() if table is None else None
        if table is None and default is None:
            tab = _embedded_cached()
        else:
            tab = _load_cached(*_resolve(default if table is None else table))
    return NB201Tabular(tab, ds, str(fidelity), seed_noise, cost_scaling, latency)
