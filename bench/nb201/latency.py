"""Hardware-aware NB201: measured latency of every cell on 26 devices as a search constraint.

The table is ``shared/data/nb201/nb201_latency_ms.csv`` (HW-NAS-Bench measurements as redistributed
by HELP: one row per official NB201 index, one column per device, milliseconds). With
``--bench-opt latency_device=pixel3 --bench-opt latency_limit_ms=10`` the NB201 space's constraint is
a latency budget (like the supernet's FLOPs limit): every method samples, mutates and is checked
against it, and each step record carries the evaluated cell's ``latency_ms`` in its extra facts.

Devices are the CSV's columns (``pixel3``, ``raspi4``, ``eyeriss``, ``fpga``, ``1080ti_1``, ...); the
short names ``edge`` (eyeriss), ``phone`` (pixel3) and ``pi`` (raspi4) are accepted too. The table
has no edge GPU (Jetson) column: ``eyeriss``, an edge accelerator, stands for the edge class.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from nasrepro.bench.core import Arch
from nasrepro.bench.nb201 import space as nb201
from nasrepro.bench.nb201.space import NB201Space

ALIASES = {"edge": "eyeriss", "phone": "pixel3", "pi": "raspi4", "raspberry-pi": "raspi4"}
LATENCY_FILE = ("nb201", "nb201_latency_ms.csv")


@dataclass(frozen=True)
class LatencyTable:
    """``ms[i, d]``: latency of the cell with official index ``i`` on device ``devices[d]``."""

    ms: np.ndarray
    devices: tuple[str, ...]
    source: str

    def device_index(self, device: str) -> int:
        name = ALIASES.get(str(device).strip().lower(), str(device).strip().lower())
        if name not in self.devices:
            raise ValueError(f"unknown latency_device {device!r}; choose one of: {', '.join(self.devices)} "
                             f"(or {', '.join(ALIASES)})")
        return self.devices.index(name)

    def column(self, device: str) -> np.ndarray:
        return self.ms[:, self.device_index(device)]


def default_latency_path() -> Path:
    from nasrepro.bench.paths import data_file

    return data_file(*LATENCY_FILE)


@lru_cache(maxsize=2)
def _load(path: str, mtime_ns: int) -> LatencyTable:  # noqa: ARG001 - the mtime keys the cache
    import pandas as pd
    from nasrepro.bench.checksums import verify_known

    verify_known(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read latency table {path}: {err}") from None
    if "index" not in df.columns or len(df.columns) < 2:
        raise ValueError(f"{path}: a latency table needs an 'index' column and one column per device")
    idx = df["index"].to_numpy()
    if len(idx) != nb201.N_ARCHS or not np.array_equal(np.sort(idx), np.arange(nb201.N_ARCHS)):
        raise ValueError(f"{path}: needs one row for each of the {nb201.N_ARCHS:,} NB201 cells (index 0-15624)")
    devices = tuple(str(c).strip().lower() for c in df.columns if c != "index")
    values = df.drop(columns="index").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{path}: column {devices[c]}, row index {int(idx[r])}: latency {values[r, c]} is not a "
                         "positive number of milliseconds; fix the file")
    ms = np.empty_like(values)
    ms[idx] = values
    return LatencyTable(ms, devices, str(path))


def load_latency(path: str | Path | None = None) -> LatencyTable:
    """The latency table at ``path`` (default: ``$NASREPRO_DATA/nb201/nb201_latency_ms.csv``)."""
    p = Path(path) if path is not None else default_latency_path()
    if not p.is_file():
        raise FileNotFoundError(f"latency table {p} not found; pass latency_table=PATH or set NASREPRO_DATA")
    return _load(str(p.resolve()), p.stat().st_mtime_ns)


class LatencySpace(NB201Space):
    """NB201 cells whose latency on one device is at most ``limit_ms``."""

    def __init__(self, latency_ms: np.ndarray, limit_ms: float, device: str) -> None:
        self.latency_ms = latency_ms
        self.limit_ms = float(limit_ms)
        self.device = device
        self._ok = (latency_ms <= self.limit_ms).tolist()
        if not any(self._ok):
            raise ValueError(f"latency_limit_ms={limit_ms:g} on {device}: no NB201 cell is that fast (fastest "
                             f"{latency_ms.min():.3g} ms); raise the limit")

    def is_valid(self, arch: Arch) -> bool:
        return self.in_range(arch) and self._ok[nb201.arch_to_index(tuple(int(c) for c in arch))]

    @property
    def n_valid(self) -> int:
        return int(sum(self._ok))
