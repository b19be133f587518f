"""Official NAS-Bench-201 / NATS-Bench (tss) files: read them, by the official API or directly.

Files understood (see ``tests/nb201_fixtures.py`` for their exact layout):

- ``NAS-Bench-201-v1_0-e61699.pth``, ``NAS-Bench-201-v1_1-096897.pth`` (``nas_201_api``);
- NATS-tss: the ``NATS-tss-v1_0-3ffb9-simple`` directory (``fast_mode=True``) or the single
  ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (``nats_bench``).

Two readers give the same :class:`OfficialArrays`:

- :func:`read_via_api` builds the official API object and asks it, for every architecture,
  ``get_more_info(..., is_random=False)`` and ``get_cost_info`` (the reference answer; the
  official API needs ~28 GB of RAM for v1_1);
- :func:`read_direct` (the default) unpickles the file with a restricted unpickler and reads
  the per-trial dicts itself, without building ``ArchResults`` objects; the NATS ``-simple``
  directory is streamed one architecture at a time.

What is extracted, per schedule (``hp='12'`` or ``'200'``) and official data set, for every
architecture (NaN where the file has no entry), as the official API computes it with
``iepoch=None`` (the last epoch) and ``is_random=False`` (the mean over trials/seeds):

- ``val``: ``x-valid`` accuracy (cifar10 trained on train+valid has no validation split);
- ``test``: ``ori-test`` for cifar10-valid and cifar10, ``x-test`` for cifar100 and
  ImageNet16-120 (the NB201 paper's test splits);
- ``train_s``: training seconds per epoch (``train-per-time`` = ``T-train@epoch``);
- ``valid_s``: ``x-valid`` evaluation seconds per epoch (``valid-per-time``);
- ``val_seeds``: ``x-valid`` accuracy of each trial (up to 3, NaN-padded, seeds ascending),
  for protocols that draw one random trial as the official ``simulate_train_eval`` does;
- ``flops_m``, ``params_m``, ``latency_s`` per data set (from the 200-epoch entry).

The NB201 search protocol (``R_EA.py``/``simulate_train_eval``) for data set ``cifar10`` reads
``'cifar10-valid'``: ``valid-accuracy`` at the last of 12 epochs of one random trial, and
charges ``train-all-time + valid-per-time`` = ``12 * train_s + valid_s`` seconds; the final
architecture is reported by the ``'cifar10'`` (train+valid) ``ori-test`` accuracy at 200 epochs.
:func:`protocol_columns` maps the official data sets to that per-user-dataset view.
"""

from __future__ import annotations

import bz2
import codecs
import collections
import importlib
import io
import pickle
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.nb201 import space as nb201

OFFICIAL_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
HPS = ("12", "200")
MAX_SEEDS = 3
TEST_SET = {
    "cifar10-valid": "ori-test",
    "cifar10": "ori-test",
    "cifar100": "x-test",
    "ImageNet16-120": "x-test",
}
NATS_META = "meta.pickle.pbz2"

# User-facing data set -> (official set read for the search signal/cost, official set read for the
# final test accuracy), as in the NB201 paper and its R_EA.py.
PROTOCOL = {
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
    "ImageNet16-120": ("ImageNet16-120", "ImageNet16-120"),
}


@dataclass
class OfficialArrays:
    """Everything extracted from one official file; arrays are indexed by official NB201 index."""

    source: str
    kind: str  # "nb201-pth" | "nats-tss-simple" | "nats-tss-full"
    n_evaluated: int
    # metric -> hp -> official dataset -> float64 array (15,625,) [val_seeds: (15,625, 3)]
    metrics: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    flops_m: dict[str, np.ndarray] = field(default_factory=dict)
    params_m: dict[str, np.ndarray] = field(default_factory=dict)
    latency_s: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, metric: str, hp: str, dataset: str) -> np.ndarray:
        return self.metrics[metric][hp][dataset]

    def datasets(self) -> list[str]:
        """Official data sets with at least one 200-epoch entry."""
        return [d for d in OFFICIAL_DATASETS if np.isfinite(self.metrics["test"]["200"][d]).any()]


METRICS = ("val", "test", "train_s", "valid_s", "val_seeds")


def _empty(source: str, kind: str) -> OfficialArrays:
    n = nb201.N_ARCHS
    out = OfficialArrays(source=source, kind=kind, n_evaluated=0)
    for m in METRICS:
        shape = (n, MAX_SEEDS) if m == "val_seeds" else (n,)
        out.metrics[m] = {hp: {d: np.full(shape, np.nan) for d in OFFICIAL_DATASETS} for hp in HPS}
    for attr in ("flops_m", "params_m", "latency_s"):
        setattr(out, attr, {d: np.full(n, np.nan) for d in OFFICIAL_DATASETS})
    return out


# --------------------------------------------------------------------------------------------
# file kinds and safe unpickling
# --------------------------------------------------------------------------------------------
def detect_kind(path: Path | str) -> str:
    """``nb201-pth``, ``nats-tss-simple`` or ``nats-tss-full``; else a one-line ``ValueError``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; give an official NAS-Bench-201 .pth or a NATS-tss file/dir"
        )
    if path.is_dir():
        if (path / NATS_META).is_file():
            return "nats-tss-simple"
        raise ValueError(
            f"{path} is a folder without {NATS_META}; expected the NATS-tss-v1_0-3ffb9-simple folder"
        )
    if path.name.endswith(".pbz2"):
        return "nats-tss-full"
    if path.suffix in (".pth", ".pt"):
        return "nb201-pth"
    raise ValueError(
        f"{path}: unknown official format; expected NAS-Bench-201-*.pth, NATS-tss-*.pickle.pbz2 or its -simple dir"
    )


# Globals that official files reference: containers and numpy scalars (numpy 1.x and 2.x names).
_SAFE = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # protocol-2 pickles encode bytes this way
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
}


def _numpy_dtype_classes() -> dict[tuple[str, str], Any]:
    out = {}
    for name in ("Float64DType", "Float32DType", "Int64DType", "Int32DType"):
        cls = getattr(np.dtypes, name, None)
        if cls is not None:
            out[("numpy.dtypes", name)] = cls
    return out


_SAFE.update(_numpy_dtype_classes())


class _RestrictedUnpickler(pickle.Unpickler):
    """Loads plain data only: an official file never needs to run code to be read."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _SAFE[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"unexpected object {module}.{name} in the file: not an official NB201/NATS results file"
            ) from None


def _load_pbz2(path: Path) -> Any:
    try:
        with bz2.BZ2File(path, "rb") as fh:
            return _RestrictedUnpickler(fh).load()
    except (OSError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(
            f"{path}: cannot read as a NATS-Bench .pickle.pbz2 ({err}); is it truncated?"
        ) from None


@contextmanager
def _torch_safe_globals() -> Iterator[None]:
    """Let ``torch.load(weights_only=True)`` (the default since torch 2.6) read official files.

    The official API calls ``torch.load(path)`` without ``weights_only``; the 2020 files hold
    numpy scalars, which the default safe unpickler refuses. Allow-list exactly those.
    """
    import torch

    allow: list[Any] = [
        collections.OrderedDict,
        np.dtype,
        np._core.multiarray.scalar,
        (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
    ]
    allow += list(_numpy_dtype_classes().values())
    with torch.serialization.safe_globals(allow):
        yield


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch's pre-1.6 (non-zip) serialization header


def _no_tensors(pid: Any) -> Any:
    raise pickle.UnpicklingError("the file holds tensors (network weights): not a results file")


def _load_pth_fast(path: Path) -> Any:
    """Unpickle a tensor-free ``torch.save`` file with the C unpickler (no torch needed).

    Handles both torch layouts: the legacy stream (magic, protocol, sys_info, object; what
    the 2020 NB201 files use) and the zip archive (``*/data.pkl``) of torch >= 1.6.
    ``torch.load(weights_only=True)`` reads the same data through a pure-Python unpickler,
    ~20x slower on these files.
    """
    with open(path, "rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            fh.seek(0)
            with zipfile.ZipFile(fh) as zf:
                names = [n for n in zf.namelist() if n.endswith("data.pkl")]
                if not names:
                    raise pickle.UnpicklingError("zip without data.pkl")
                with zf.open(names[0]) as raw, io.BufferedReader(raw, 1 << 20) as pf:
                    up = _RestrictedUnpickler(pf)
                    up.persistent_load = _no_tensors
                    return up.load()
        fh.seek(0)
        if _RestrictedUnpickler(fh).load() != _LEGACY_MAGIC:
            raise pickle.UnpicklingError("not a torch.save file (bad magic number)")
        _RestrictedUnpickler(fh).load()  # protocol version
        _RestrictedUnpickler(fh).load()  # sys_info
        up = _RestrictedUnpickler(fh)
        up.persistent_load = _no_tensors
        return up.load()


def _load_pth(path: Path) -> dict[str, Any]:
    try:
        data = _load_pth_fast(path)
    except (
        EOFError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        AttributeError,
        TypeError,
        IndexError,
    ) as err:
        raise ValueError(
            f"{path}: cannot read as a NAS-Bench-201 .pth ({type(err).__name__}: {err}); "
            "is it truncated or another format?"
        ) from None
    _check_top(data, path)
    return data


def _load_pth_torch(path: Path) -> dict[str, Any]:
    """The same through ``torch.load(weights_only=True)`` (what the official API now does)."""
    import torch

    try:
        with _torch_safe_globals():
            data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: cannot read as a NAS-Bench-201 .pth ({first}); is it truncated?") from None
    _check_top(data, path)
    return data


def _check_top(data: Any, path: Path) -> None:
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos"} <= set(data):
        raise ValueError(f"{path}: not an official NAS-Bench-201/NATS file (no meta_archs/arch2infos)")
    if len(data["meta_archs"]) != nb201.N_ARCHS:
        raise ValueError(
            f"{path}: has {len(data['meta_archs'])} architectures, expected {nb201.N_ARCHS} "
            "(NATS-sss, the size search space, is not an NB201 table)"
        )


def _index_map(meta_archs: list[str]) -> np.ndarray:
    """File index -> our official index (identity for official files; checked, not assumed)."""
    try:
        return np.array([nb201.arch_to_index(nb201.from_str(s)) for s in meta_archs], dtype=np.int64)
    except ValueError as err:
        raise ValueError(f"the file's meta_archs are not NB201 cells ({err})") from None


def _verify(path: Path) -> None:
    """An official file under its official name must carry the checksum its name promises."""
    from nasrepro.bench.checksums import verify_known

    verify_known(path)


# --------------------------------------------------------------------------------------------
# direct reader
# --------------------------------------------------------------------------------------------
def _trial_values(rc: dict[str, Any]) -> dict[str, float | None]:
    """What ``get_more_info(iepoch=None)`` reads from one ResultsCount state."""
    last = int(rc["epochs"]) - 1
    acc = rc.get("eval_acc1es") or {}
    times = rc.get("eval_times") or {}
    train_times = rc.get("train_times")
    out: dict[str, float | None] = {
        "x-valid": acc.get(f"x-valid@{last}"),
        "x-test": acc.get(f"x-test@{last}"),
        "ori-test": acc.get(f"ori-test@{last}"),
        "train_s": None,
        "valid_s": None,
    }
    # train-per-time = sum(train_times[0..last]) / epochs; valid-per-time likewise for x-valid
    if isinstance(train_times, dict) and all(i in train_times for i in range(last + 1)):
        out["train_s"] = sum(train_times[i] for i in range(last + 1)) / (last + 1)
    if times and all(f"x-valid@{i}" in times for i in range(last + 1)):
        out["valid_s"] = sum(times[f"x-valid@{i}"] for i in range(last + 1)) / (last + 1)
    return out


def _nanmean(values: list[float | None]) -> float:
    vals = [float(v) for v in values if v is not None]
    # the official API averages only when the first trial has the value; a partial set is NaN
    if not vals or len(vals) != len(values):
        return float("nan")
    return float(np.mean(vals))


def _fill_arch(out: OfficialArrays, idx: int, hp2state: dict[str, Any]) -> None:
    nats = out.kind.startswith("nats")
    for hp, state in hp2state.items():
        hp = {"less": "12", "full": "200"}.get(hp, hp)
        if hp not in HPS or state is None:
            continue
        results = state["all_results"]
        for dataset, seeds in state["dataset_seed"].items():
            if dataset not in OFFICIAL_DATASETS:
                continue
            trials = [_trial_values(results[(dataset, s)]) for s in seeds]
            m = out.metrics
            m["val"][hp][dataset][idx] = _nanmean([t["x-valid"] for t in trials])
            m["test"][hp][dataset][idx] = _nanmean([t[TEST_SET[dataset]] for t in trials])
            m["train_s"][hp][dataset][idx] = _nanmean([t["train_s"] for t in trials])
            m["valid_s"][hp][dataset][idx] = _nanmean([t["valid_s"] for t in trials])
            for k, t in enumerate(trials[:MAX_SEEDS]):
                v = t["x-valid"]
                m["val_seeds"][hp][dataset][idx, k] = np.nan if v is None else float(v)
            if hp == "200" or np.isnan(out.flops_m[dataset][idx]):
                rcs = [results[(dataset, s)] for s in seeds]
                out.flops_m[dataset][idx] = _consistent([r["flop"] for r in rcs], seeds, nats)
                out.params_m[dataset][idx] = _consistent([r["params"] for r in rcs], seeds, nats)
                lat = [sum(r["latency"]) / len(r["latency"]) for r in rcs if r.get("latency")]
                lat = [x for x in lat if x > 0]
                out.latency_s[dataset][idx] = float(np.mean(lat)) if lat else np.nan


def _consistent(values: list[float], seeds: list[int], nats: bool) -> float:
    # nats_bench >= 1.6: where trials disagree on flops/params (a legacy bug in a few cells) the
    # API uses seed 888's value; nas_201_api averages. Each reader answers as its own API does.
    if nats and len({f"{float(v):.5f}" for v in values}) > 1 and 888 in seeds:
        return float(values[list(seeds).index(888)])
    return float(np.mean([float(v) for v in values]))


def read_direct(path: Path | str, progress: bool = True) -> OfficialArrays:
    """Read an official file without the official API objects.

    Same numbers as :func:`read_via_api`, faster (no API objects, no per-query copies). A ``.pth``/``.pbz2`` is one
    pickle, so its whole content is in memory once (as with the API); the NATS ``-simple``
    folder is streamed one architecture at a time.
    """
    from tqdm import tqdm

    path = Path(path)
    kind = detect_kind(path)
    _verify(path)
    out = _empty(str(path), kind)
    if kind == "nats-tss-simple":
        meta = _load_pbz2(path / NATS_META)
        _check_top(meta, path / NATS_META)
        imap = _index_map(meta["meta_archs"])
        files = sorted(p for p in path.glob("*.pickle.pbz2") if p.name != NATS_META)
        for f in tqdm(files, desc="reading NATS-tss", disable=not progress, unit="arch"):
            try:
                i = int(f.name.split(".")[0])
            except ValueError:
                continue
            _fill_checked(out, int(imap[i]), _load_pbz2(f), f)
            out.n_evaluated += 1
        return out
    data = _load_pbz2(path) if kind == "nats-tss-full" else _load_pth(path)
    _check_top(data, path)
    imap = _index_map(data["meta_archs"])
    arch2infos = data["arch2infos"]
    for i in tqdm(sorted(arch2infos), desc="reading NB201", disable=not progress, unit="arch"):
        # pop as we go: the file's objects are freed while the arrays fill
        _fill_checked(out, int(imap[int(i)]), arch2infos.pop(i), path)
        out.n_evaluated += 1
    return out


def _fill_checked(out: OfficialArrays, idx: int, hp2state: Any, where: Path) -> None:
    try:
        _fill_arch(out, idx, hp2state)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as err:
        raise ValueError(f"{where}: cell {idx} has an unexpected layout ({type(err).__name__}: {err}); "
                         "not an official NAS-Bench-201 / NATS-tss results file?") from None


# --------------------------------------------------------------------------------------------
# official-API reader
# --------------------------------------------------------------------------------------------
def _import_official(module: str, pip_name: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(
            f"reading through the official API needs the '{pip_name}' package: pip install {pip_name} "
            "(or pip install 'nasrepro[official]'); or use the direct reader (no extra package)"
        ) from None


class _TorchShim:
    """Stands in for ``torch`` inside ``nas_201_api.api_201``, whose only use of it is ``torch.load``."""

    @staticmethod
    def load(f: str, map_location: Any = None, **_: Any) -> Any:
        return _load_pth(Path(f))


@contextmanager
def _api_loader(mod: Any, loader: str) -> Iterator[None]:
    """How the official NB201 API reads its file.

    ``"fast"``: our restricted C unpickler (same objects, ~20x faster than ``torch.load`` with
    ``weights_only=True``, and no code from the file is run); ``"torch"``: ``torch.load`` with
    ``weights_only=True`` (torch >= 2.6) and the file's numpy scalars allow-listed; ``"legacy"``:
    whatever ``torch.load`` does by default (set ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the
    pre-2.6 unrestricted unpickler the API was written for; only for files you trust).
    """
    if loader == "legacy":
        yield
    elif loader == "torch":
        with _torch_safe_globals():
            yield
    elif loader == "fast":
        api_mod = importlib.import_module(f"{mod.__name__}.api_201")
        saved = api_mod.torch
        api_mod.torch = _TorchShim
        try:
            yield
        finally:
            api_mod.torch = saved
    else:
        raise ValueError(f"unknown loader {loader!r}; expected fast, torch or legacy")


def load_api(path: Path | str, verbose: bool = False, loader: str = "fast") -> Any:
    """The official API object for ``path`` (NB201 .pth -> NASBench201API; NATS -> NATStopology).

    ``loader`` (NB201 .pth only): see :func:`_api_loader`; the API objects are the same.
    """
    path = Path(path)
    kind = detect_kind(path)
    _verify(path)
    if kind == "nb201-pth":
        mod = _import_official("nas_201_api", "nas-bench-201")
        try:
            with _api_loader(mod, loader):
                return mod.NASBench201API(str(path), verbose=verbose)
        except (RuntimeError, EOFError, pickle.UnpicklingError, AssertionError, KeyError) as err:
            raise ValueError(
                f"{path}: the official NAS-Bench-201 API cannot load it ({type(err).__name__}); "
                "is it truncated or another format?"
            ) from None
    mod = _import_official("nats_bench", "nats_bench")
    try:
        return mod.create(str(path), "tss", fast_mode=(kind == "nats-tss-simple"), verbose=verbose)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError) as err:
        raise ValueError(
            f"{path}: the official NATS-Bench API cannot load it ({type(err).__name__})"
        ) from None


def read_via_api(path: Path | str, progress: bool = True, api: Any = None) -> OfficialArrays:
    """Ask the official API about every architecture (the reference reader; slow, memory-hungry)."""
    from tqdm import tqdm

    path = Path(path)
    kind = detect_kind(path)
    api = api if api is not None else load_api(path)
    out = _empty(str(path), kind)
    if kind == "nats-tss-simple":  # fast mode loads lazily: find what is on disk
        indices = sorted(int(p.name.split(".")[0]) for p in path.glob("[0-9]*.pickle.pbz2"))
    else:
        indices = sorted(api.evaluated_indexes)
    imap = _index_map(list(api.meta_archs))
    for i in tqdm(indices, desc="official API", disable=not progress, unit="arch"):
        j = int(imap[i])
        for hp in HPS:
            # arch2infos_dict directly: query_meta_info_by_index deep-copies every ArchResults
            if hasattr(api, "_prepare_info"):
                api._prepare_info(i)  # NATS fast mode loads the arch's file here
            archres = api.arch2infos_dict.get(i, {}).get(hp)
            if archres is None:
                continue
            for dataset in archres.get_dataset_names():
                if dataset not in OFFICIAL_DATASETS:
                    continue
                info = api.get_more_info(i, dataset, iepoch=None, hp=hp, is_random=False)
                m = out.metrics
                m["val"][hp][dataset][j] = _num(info.get("valid-accuracy"))
                m["test"][hp][dataset][j] = _num(info.get("test-accuracy"))
                m["train_s"][hp][dataset][j] = _num(info.get("train-per-time"))
                m["valid_s"][hp][dataset][j] = _num(info.get("valid-per-time"))
                for k, seed in enumerate(archres.get_dataset_seeds(dataset)[:MAX_SEEDS]):
                    try:
                        v = archres.get_metrics(dataset, "x-valid", iepoch=None, is_random=seed)["accuracy"]
                    except (KeyError, ValueError):
                        v = None
                    m["val_seeds"][hp][dataset][j, k] = _num(v)
                if hp == "200":
                    cost = api.get_cost_info(i, dataset, hp=hp)
                    out.flops_m[dataset][j] = _num(cost["flops"])
                    out.params_m[dataset][j] = _num(cost["params"])
                    out.latency_s[dataset][j] = _num(cost["latency"])
        out.n_evaluated += 1
    return out


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def read(path: Path | str, via_api: bool = False, progress: bool = True) -> OfficialArrays:
    return read_via_api(path, progress) if via_api else read_direct(path, progress)


# --------------------------------------------------------------------------------------------
# the NB201 protocol view
# --------------------------------------------------------------------------------------------
def protocol_columns(arr: OfficialArrays, dataset: str) -> dict[str, np.ndarray]:
    """Per user data set, the columns a search needs (official names in :data:`PROTOCOL`).

    ``val_12``/``val_200``: search signal; ``test_200``/``test_12``: final report;
    ``cost_12_s``/``cost_200_s``: simulated seconds of one evaluation as ``simulate_train_eval``
    charges it (``epochs * train_s + valid_s`` of the signal's data set);
    ``train_epoch_s``: seconds per training epoch (200-epoch schedule; NaN if absent).
    """
    if dataset not in PROTOCOL:
        raise ValueError(f"unknown NB201 dataset {dataset!r}; expected one of {', '.join(PROTOCOL)}")
    sig, fin = PROTOCOL[dataset]
    g = arr.get
    cols = {
        "val_12": g("val", "12", sig),
        "val_200": g("val", "200", sig),
        "test_12": g("test", "12", fin),
        "test_200": g("test", "200", fin),
        "val_seeds_12": g("val_seeds", "12", sig),
        "cost_12_s": 12 * g("train_s", "12", sig) + g("valid_s", "12", sig),
        "cost_200_s": 200 * g("train_s", "200", sig) + g("valid_s", "200", sig),
        "train_epoch_s": g("train_s", "200", sig),
        "flops_m": arr.flops_m[fin],
        "params_m": arr.params_m[fin],
    }
    return cols


def file_bytes(path: Path | str) -> int:
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


# --------------------------------------------------------------------------------------------
# into the table class
# --------------------------------------------------------------------------------------------
KIND_LABEL = {
    "nb201-pth": "official-nb201",
    "nats-tss-simple": "official-nats-tss",
    "nats-tss-full": "official-nats-tss",
}


def to_table(arr: OfficialArrays, datasets: list[str] | tuple[str, ...] | None = None) -> Any:
    """An :class:`bench.nb201.tables.NB201Table` with the evaluated cells of ``arr``.

    ``datasets``: user-facing names (cifar10, cifar100, imagenet16-120); default: every data
    set whose 200-epoch test accuracy the file has.
    """
    from nasrepro.bench.nb201.tables import NB201Table, normalize_dataset

    by_norm = {normalize_dataset(d): d for d in PROTOCOL}
    if datasets is None:
        wanted = [d for d in PROTOCOL if np.isfinite(arr.get("test", "200", PROTOCOL[d][1])).any()]
    else:
        wanted = [by_norm[normalize_dataset(d)] for d in datasets]
    if not wanted:
        raise ValueError(
            f"{arr.source}: no 200-epoch test accuracies for any data set; is it an NB201/NATS-tss file?"
        )
    cols_by_ds = {d: protocol_columns(arr, d) for d in wanted}
    known = np.zeros(nb201.N_ARCHS, dtype=bool)
    for cols in cols_by_ds.values():
        known |= np.isfinite(cols["test_200"]) | np.isfinite(cols["val_12"])
    rows = np.flatnonzero(known)
    missing = [d for d, c in cols_by_ds.items() if not np.isfinite(c["test_200"]).any()]
    if missing:
        raise ValueError(
            f"{arr.source} has no 200-epoch results for {', '.join(missing)}; drop it from --datasets"
        )
    columns = {d: {k: v[rows] for k, v in cols.items()} for d, cols in cols_by_ds.items()}
    notes = {
        "signal": "val_12 = x-valid accuracy after 12 epochs (hp='12'), mean over trials; val_seeds_12 = each "
        "trial (the official simulate_train_eval draws one); cifar10 reads the 'cifar10-valid' split",
        "final": "test_200 = 200-epoch test accuracy, mean over trials (cifar10: 'cifar10' ori-test trained on "
        "train+valid; cifar100/ImageNet16-120: x-test)",
        "times": "recorded times of the official file: cost_12_s = 12 * train-per-time + valid-per-time "
        "(what simulate_train_eval charges); train_epoch_s = 200-epoch train-per-time",
        "file": f"{Path(arr.source).name}: {arr.n_evaluated} of {nb201.N_ARCHS} cells evaluated",
    }
    return NB201Table.from_arrays(
        columns, source=arr.source, kind=KIND_LABEL[arr.kind], index=rows, notes=notes
    )


def load_official_table(
    path: Path | str,
    datasets: list[str] | None = None,
    via_api: bool = False,
    progress: bool = True,
    allow_partial: bool | None = None,
) -> Any:
    """Official file -> :class:`bench.nb201.tables.NB201Table` (the hook ``tables.load_table`` calls).

    Checked like every table (``tables.validate_table``): all 15,625 cells unless ``allow_partial``
    (synthetic test files), accuracies in [0, 100], costs >= 0, no missing 200-epoch test accuracy.
    """
    from nasrepro.bench.io import file_fingerprint
    from nasrepro.bench.nb201.tables import validate_table

    path = Path(path)
    table = to_table(read(path, via_api=via_api, progress=progress), datasets)
    validate_table(table, str(path), allow_partial)
    table.path = str(path.resolve())
    if path.is_file():  # a NATS -simple folder has no single file: its data fingerprint identifies it
        table.fingerprint = file_fingerprint(path)
    return table
