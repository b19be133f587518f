"""FNAS's lifelong block-weight pool, on disk, keyed by block identity, with a block-similarity function.

A block is one addressable piece of an :class:`~bench.nb201.network.NB201Network` (stem, one cell
edge's op, a reduction block, the head); its identity is :attr:`Block.key`
(``kind:op:in_shape->out_shape:stage:cell:edge``): two archs share a block exactly when the same
op sits at the same place with the same shapes.

**Similarity** (``match="similar"``, the default; ``"exact"`` = identity keys only). A block whose key
is not in the pool inherits from the *most similar* stored block, so the hit ratio is 100% as soon as
the pool holds any network's blocks (every network has a stem, two reductions and a head, and the
reductions' second conv serves any cell conv). Candidates, and how their tensors are mapped:

- a cell conv (``nor_conv_1x1`` / ``nor_conv_3x3``) from any stored cell conv, or from the second conv
  (``conv_b``: ReLU-conv3x3-BN, stride 1) of a stored reduction block; the stem, a reduction and the
  head only from a stored block of the same kind and op;
- kernels: a 1x1 kernel is the centre of a 3x3 one; a 3x3 kernel is a 1x1 one zero-padded (the same
  function at initialisation); channels: output/input channel ``j`` takes stored channel
  ``j mod C_stored`` (a crop, or a Net2Net-style repeat), BatchNorm parameters and statistics likewise;
- rank (lowest first): stored block of another kind (a reduction for a cell conv); another channel
  count; the distance in the skeleton: stages apart, then cells apart, then edges apart (``EDGES``
  order); another kernel size; ties by file name. The exact key ranks first (distance 0 everywhere).

- ``load_into(net, arch) -> hit_ratio``: every block with parameters found in the pool (in the
  current *snapshot*; exactly, or by similarity) is initialised from it; hit ratio = hits / blocks
  with parameters (blocks without parameters - skip, none, pooling - are not counted);
  :attr:`last_exact_ratio` is the share found under their own key.
- ``write_back(net, arch)``: after training, every block is offered back; ``rule="latest"`` keeps the
  newest weights, ``"average"`` a running mean over all write-backs (count kept in the entry; BN
  running statistics are averaged too, integer buffers take the latest).
- ``snapshot()``: strict fairness. Write-backs are staged (on disk, in ``pending/``) and become
  visible only at the next snapshot, so all rollouts of one batch (e.g. a PPO batch) inherit from
  the same pool state. :meth:`announce` takes the runner's hints: a *change* of the generic
  ``batch`` hint (the index of the method's current batch; PPO and FNAS send it, see
  :meth:`bench.core.Benchmark.announce`) takes a snapshot. A method that sends no such hint gets a
  snapshot before every rollout (each rollout inherits from all earlier ones).

Modes: ``keep`` (default: lifelong, the pool outlives runs), ``fresh`` (:meth:`reset`, which the
runner calls before each run through the benchmark, empties it: every run starts from an empty pool,
so a run is reproducible and resumable; the folder is then run *state*, not input, see
``state_options`` of nb201-live) and ``frozen`` (read-only: loads, never writes, not even its LRU
index; for probes of a finished pool exported with :func:`export_pool`).

On disk: ``DIR/blocks/<sha1(key)>.pt`` (a torch file holding the format tag, the key, the tensors
and the write-back count), ``DIR/index.json`` (LRU clock, sizes and keys). Every file is written atomically
(temp file + rename), so a crash never leaves a half-written entry and never loses a committed one.
The pool is bounded by ``max_mb``: after a commit the least recently used entries are evicted.
An entry that cannot be read (truncated, corrupted), is not ours (another format or key) or does not fit
(another tensor shape) is reported (``warnings.warn`` + ``stats["bad"]``), moved to ``DIR/quarantine/``
and skipped: never loaded, and nothing else in the pool is touched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from nasrepro.bench.core import Arch
from nasrepro.bench.io import atomic_write_bytes, atomic_write_text

FORMAT = "nasrepro-weight-pool/1"
RULES = ("latest", "average")
MATCHES = ("similar", "exact")
MODES = ("keep", "fresh", "frozen")
CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")
_EDGE_ORDER = ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")


class PoolWarning(UserWarning):
    """A pool entry was skipped (corrupted, foreign or of the wrong shape)."""


def _key_file(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest() + ".pt"


def parse_key(key: str) -> dict[str, Any]:
    """``'edge:nor_conv_3x3:8x16x16->8x16x16:s1:c0:3<-2'`` -> its fields (shapes as int tuples)."""
    kind, op, shapes, stage, cell, edge = key.split(":")
    a, b = shapes.split("->")
    return {"kind": kind, "op": op, "in": tuple(int(x) for x in a.split("x")),
            "out": tuple(int(x) for x in b.split("x")), "stage": int(stage[1:]), "cell": int(cell[1:]),
            "edge": "" if edge == "-" else edge}


def similarity_rank(target: dict[str, Any], stored: dict[str, Any]) -> tuple[int, ...] | None:
    """How far a stored block (parsed key) is from a target block (lower = more similar; the rule is in
    the module doc); None when it cannot serve the target."""
    if target["kind"] == "edge" and target["op"] in CONV_OPS:
        if not ((stored["kind"] == "edge" and stored["op"] in CONV_OPS) or stored["kind"] == "reduction"):
            return None
    elif (stored["kind"], stored["op"]) != (target["kind"], target["op"]):
        return None
    channels = stored["out"][0] if stored["kind"] == "reduction" and target["kind"] == "edge" else stored["in"][0]

    def edge_pos(e: str) -> int:
        return _EDGE_ORDER.index(e) if e in _EDGE_ORDER else 0

    return (int(stored["kind"] != target["kind"]), int(channels != target["in"][0]),
            abs(stored["stage"] - target["stage"]), abs(stored["cell"] - target["cell"]),
            abs(edge_pos(stored["edge"]) - edge_pos(target["edge"])), int(stored["op"] != target["op"]))


def fit_tensor(src: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``src`` mapped onto ``like``'s shape: conv kernels (last two dims of a 4-d tensor) centre-cropped
    or zero-padded, every other dim by index ``j -> j mod n_src`` (crop or repeat)."""
    out = src
    spatial = (2, 3) if src.dim() == 4 else ()
    for d in range(src.dim()):
        n, m = like.shape[d], out.shape[d]
        if n == m:
            continue
        if d in spatial:
            if n < m:  # centre crop (3x3 -> 1x1: the centre tap)
                out = out.narrow(d, (m - n) // 2, n)
            else:  # zero-pad around (1x1 -> 3x3)
                lo = (n - m) // 2
                pad = [0, 0] * out.dim()
                i = 2 * (out.dim() - 1 - d)  # F.pad lists the last dim first
                pad[i], pad[i + 1] = lo, n - m - lo
                out = torch.nn.functional.pad(out, pad)
        else:
            out = out.index_select(d, torch.arange(n) % m)
    return out.to(like.dtype).clone()


def _sub_state(kind: str, target_kind: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of a stored block that serve the target: a reduction's ``conv_b`` for a cell conv."""
    if kind == "reduction" and target_kind == "edge":
        return {k[len("conv_b."):]: v for k, v in state.items() if k.startswith("conv_b.")}
    return state


def export_pool(src: Path | str, dest: Path | str) -> Path:
    """A read-only copy of a pool's committed state (staged write-backs committed first) at ``dest``,
    for ``mode="frozen"`` probes; replaces ``dest``. The same pool gives the same bytes."""
    pool = WeightPool(src)
    pool.snapshot()
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(pool.dir / "blocks", tmp / "blocks")
    shutil.copy2(pool.dir / "index.json", tmp / "index.json")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest


class WeightPool:
    def __init__(self, directory: Path | str, max_mb: float = 256.0, rule: str = "latest",
                 image_size: int | None = None, match: str = "similar", mode: str = "keep") -> None:
        if rule not in RULES:
            raise ValueError(f"weight pool rule must be one of {', '.join(RULES)}, got {rule!r}")
        if match not in MATCHES:
            raise ValueError(f"weight pool match must be one of {', '.join(MATCHES)}, got {match!r}")
        if mode not in MODES:
            raise ValueError(f"weight pool mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not max_mb > 0:
            raise ValueError(f"weight pool max_mb must be > 0, got {max_mb}")
        self.dir = Path(directory)
        if self.dir.exists() and not self.dir.is_dir():
            raise NotADirectoryError(f"weight pool {self.dir} exists and is not a folder; pass a folder path")
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.rule, self.match, self.mode = rule, match, mode
        self.read_only = mode == "frozen"
        self.image_size = image_size
        if self.read_only and not (self.dir / "blocks").is_dir():
            raise FileNotFoundError(f"frozen weight pool {self.dir} has no blocks/ folder; export one with export_pool")
        if not self.read_only:
            for sub in ("blocks", "pending", "quarantine"):
                (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._pending_keys: dict[str, str] = {}
        self.index = self._read_index()
        self._start_stats()
        if not self.read_only:
            self._commit_pending()  # a previous run's staged writes are not lost

    def _start_stats(self) -> None:
        self.stats = {"loads": 0, "hits": 0, "exact": 0, "blocks": 0, "bad": 0, "writes": 0, "evicted": 0,
                      "snapshots": 0}
        self.last_hit_ratio: float | None = None
        self.last_exact_ratio: float | None = None
        self._batch_hint: Any = None  # last ``batch`` hint seen (None: no batch structure known)

    def reset(self) -> None:
        """Before a run: a ``fresh`` pool is emptied; every mode forgets the previous run's batch hint
        and counters (the runner calls this through the benchmark's ``reset``)."""
        if self.mode == "fresh":
            for sub in ("blocks", "pending", "quarantine"):
                shutil.rmtree(self.dir / sub, ignore_errors=True)
                (self.dir / sub).mkdir(parents=True, exist_ok=True)
            self.index = {"format": FORMAT, "clock": 0, "entries": {}}
            self._pending_keys = {}
            self._write_index()
        self._start_stats()

    # ---- index -------------------------------------------------------------------------------
    def _read_index(self) -> dict[str, Any]:
        path = self.dir / "index.json"
        index: dict[str, Any] = {"format": FORMAT, "clock": 0, "entries": {}}
        if path.exists():
            try:
                data = json.loads(path.read_text())
                if data.get("format") == FORMAT and isinstance(data.get("entries"), dict):
                    index = data
                else:
                    warnings.warn(f"weight pool index {path} is foreign; rebuilding it", PoolWarning, stacklevel=2)
            except (OSError, ValueError):
                warnings.warn(f"weight pool index {path} is unreadable; rebuilding it", PoolWarning, stacklevel=2)
        # entries present on disk but not indexed (e.g. index lost) are adopted; missing ones dropped
        on_disk = {p.name: p.stat().st_size for p in (self.dir / "blocks").glob("*.pt")}
        entries = {n: e for n, e in index["entries"].items() if n in on_disk}
        for name, size in on_disk.items():
            entries.setdefault(name, {"bytes": size, "used": 0})
        index["entries"] = entries
        return index

    def _write_index(self) -> None:
        if not self.read_only:
            atomic_write_text(self.dir / "index.json", json.dumps(self.index, sort_keys=True))

    def _touch(self, name: str, size: int | None = None, key: str | None = None) -> None:
        self.index["clock"] += 1
        e = self.index["entries"].setdefault(name, {"bytes": 0, "used": 0})
        e["used"] = self.index["clock"]
        if size is not None:
            e["bytes"] = size
        if key is not None:
            e["key"] = key

    def _entry_key(self, name: str) -> str | None:
        """The block key of a committed entry (an older index did not record it: read from the file)."""
        e = self.index["entries"].get(name)
        if e is None:
            return None
        if "key" not in e:
            try:
                e["key"] = str(torch.load(self.dir / "blocks" / name, map_location="cpu", weights_only=True)["key"])
            except Exception:  # unreadable: loading it by its own key reports and quarantines it
                return None
        return e["key"]

    @property
    def size_bytes(self) -> int:
        return int(sum(e["bytes"] for e in self.index["entries"].values()))

    def __len__(self) -> int:
        return len(self.index["entries"])

    # ---- entries -----------------------------------------------------------------------------
    def _bad(self, path: Path, why: str) -> None:
        self.stats["bad"] += 1
        warnings.warn(f"weight pool entry {path.name} skipped: {why}", PoolWarning, stacklevel=3)
        if self.read_only:  # a frozen pool is never changed; the entry is only skipped
            return
        try:
            os.replace(path, self.dir / "quarantine" / path.name)
        except OSError:
            pass
        self.index["entries"].pop(path.name, None)

    def _read(self, path: Path, key: str) -> dict[str, Any] | None:
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated / corrupted files raise many kinds of errors
            self._bad(path, f"unreadable ({type(err).__name__})")
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            self._bad(path, "not a nasrepro weight-pool entry")
            return None
        if entry.get("key") != key:
            self._bad(path, f"holds key {entry.get('key')!r}, expected {key!r}")
            return None
        if not isinstance(entry.get("state"), dict):
            self._bad(path, "no tensors")
            return None
        return entry

    @staticmethod
    def _encode(key: str, state: dict[str, torch.Tensor], count: int) -> bytes:
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "key": key, "count": int(count),
                    "state": {k: v.detach().cpu().clone() for k, v in state.items()}}, buf)
        return buf.getvalue()

    def _blocks(self, net: Any) -> list[Any]:
        size = self.image_size or getattr(net, "image_size", None) or 32
        return [b for b in net.blocks(size) if b.has_params]

    # ---- the hooks ---------------------------------------------------------------------------
    def load_into(self, net: Any, arch: Arch | None = None) -> float:
        """Initialise every block found in the pool (its own key, else the most similar stored block);
        return the hit ratio (0..1)."""
        if self._batch_hint is None and not self.read_only:
            self.snapshot()  # no batches announced: every rollout sees all earlier write-backs
        blocks = self._blocks(net)
        hits = exact = 0
        stored: list[tuple[str, dict[str, Any]]] | None = None  # parsed keys, built on the first miss
        for b in blocks:
            path = self.dir / "blocks" / _key_file(b.key)
            if path.exists() and self._load_exact(b, path):
                hits += 1
                exact += 1
                continue
            if self.match != "similar":
                continue
            if stored is None:
                stored = [(n, parse_key(k)) for n in sorted(self.index["entries"]) if (k := self._entry_key(n))]
            if self._load_similar(b, stored):
                hits += 1
        self.stats["loads"] += 1
        self.stats["hits"] += hits
        self.stats["exact"] += exact
        self.stats["blocks"] += len(blocks)
        self._write_index()
        self.last_hit_ratio = hits / len(blocks) if blocks else 0.0
        self.last_exact_ratio = exact / len(blocks) if blocks else 0.0
        return self.last_hit_ratio

    def _load_exact(self, b: Any, path: Path) -> bool:
        entry = self._read(path, b.key)
        if entry is None:
            return False
        own = b.module.state_dict()
        state = entry["state"]
        if set(state) != set(own) or any(tuple(state[k].shape) != tuple(own[k].shape) for k in own):
            self._bad(path, "tensor names or shapes differ from the block's")
            return False
        b.module.load_state_dict({k: state[k].to(own[k].dtype) for k in own})
        if not self.read_only:
            self._touch(path.name)
        return True

    def _load_similar(self, b: Any, stored: list[tuple[str, dict[str, Any]]]) -> bool:
        """Initialise ``b`` from the most similar stored block that fits (the rule: module doc)."""
        target = parse_key(b.key)
        ranked = sorted((r, n) for n, k in stored if (r := similarity_rank(target, k)) is not None)
        own = b.module.state_dict()
        for _, name in ranked:
            path = self.dir / "blocks" / name
            key = self.index["entries"].get(name, {}).get("key")
            entry = self._read(path, key) if key and path.exists() else None
            if entry is None:
                continue
            state = _sub_state(parse_key(key)["kind"], target["kind"], entry["state"])
            if set(state) != set(own) or any(state[k].dim() != own[k].dim() for k in own):
                continue  # another layout: it cannot serve this block (not a bad entry)
            b.module.load_state_dict({k: fit_tensor(state[k], own[k]) for k in own})
            if not self.read_only:
                self._touch(name)
            return True
        return False

    def write_back(self, net: Any, arch: Arch | None = None, rule: str | None = None) -> None:
        """Offer every block back (staged in ``pending/`` until the next snapshot)."""
        if self.read_only:
            return  # a frozen pool is never written
        rule = rule or self.rule
        if rule not in RULES:
            raise ValueError(f"weight pool rule must be one of {', '.join(RULES)}, got {rule!r}")
        target = "pending"
        for b in self._blocks(net):
            name = _key_file(b.key)
            state = b.module.state_dict()
            count = 1
            if rule == "average":
                base = self._current(b.key, name, target)
                if base is not None:
                    n = int(base["count"])
                    state = {
                        k: ((v.double() * 1 + base["state"][k].double() * n) / (n + 1)).to(v.dtype)
                        if v.is_floating_point() else v
                        for k, v in state.items()
                    }
                    count = n + 1
            data = self._encode(b.key, state, count)
            atomic_write_bytes(self.dir / target / name, data)
            self._pending_keys[name] = b.key
            self.stats["writes"] += 1

    def _current(self, key: str, name: str, target: str) -> dict[str, Any] | None:
        """The entry an average builds on: a staged one of this batch, else the committed one."""
        for where in (target, "blocks"):
            path = self.dir / where / name
            if path.exists():
                entry = self._read(path, key)
                if entry is not None:
                    return entry
        return None

    def __call__(self, net: Any, arch: Arch) -> dict[str, Any]:
        """As ``nb201-live``'s ``initializer``: load and report the hit ratio (own key + similar) and the
        share found under its own key."""
        ratio = self.load_into(net, arch)
        return {"pool_hit_ratio": ratio, "pool_exact_ratio": self.last_exact_ratio, "pool_entries": len(self)}

    # ---- fairness ----------------------------------------------------------------------------
    def snapshot(self) -> None:
        """Commit the staged write-backs and freeze the pool until the next snapshot."""
        if not self.read_only:
            self._commit_pending()
        self.stats["snapshots"] += 1

    def _commit_pending(self) -> None:
        pending = sorted((self.dir / "pending").glob("*.pt"))
        for path in pending:
            key = self._pending_keys.pop(path.name, None)
            if key is None:  # staged by an earlier process: the key is in the file
                try:
                    key = str(torch.load(path, map_location="cpu", weights_only=True)["key"])
                except Exception:  # unreadable: reported when it is loaded by its own key
                    key = None
            os.replace(path, self.dir / "blocks" / path.name)
            self._touch(path.name, (self.dir / "blocks" / path.name).stat().st_size, key)
        if pending:
            self._evict()
        self._write_index()

    def announce(self, hints: dict[str, Any]) -> None:
        """Runner hints: a new ``batch`` value starts a batch, so take a snapshot."""
        batch = hints.get("batch")
        if batch is None or batch == self._batch_hint:
            return
        first = self._batch_hint is None
        self._batch_hint = batch
        if not first:  # the first hint only tells that batches exist (the first batch is under way)
            self.snapshot()

    def _evict(self) -> None:
        entries = self.index["entries"]
        while self.size_bytes > self.max_bytes and entries:
            name = min(entries, key=lambda n: entries[n]["used"])
            try:
                (self.dir / "blocks" / name).unlink()
            except FileNotFoundError:
                pass
            del entries[name]
            self.stats["evicted"] += 1

    def hit_ratio(self) -> float:
        return self.stats["hits"] / self.stats["blocks"] if self.stats["blocks"] else 0.0


class PoolWriteBack:
    """``nb201-live``'s ``after_train`` hook for a pool (a separate object so the benchmark can forward
    hints to the pool once: only :class:`WeightPool` listens)."""

    def __init__(self, pool: WeightPool) -> None:
        self.pool = pool

    def __call__(self, net: Any, arch: Arch) -> None:
        self.pool.write_back(net, arch)


def pool_hooks(directory: Path | str, max_mb: float = 256.0, rule: str = "latest", match: str = "similar",
               mode: str = "keep") -> dict[str, Any]:
    """``initializer`` and ``after_train`` options for :class:`bench.nb201.live.NB201Live` (a frozen
    pool gets no ``after_train``: it is never written)."""
    pool = WeightPool(directory, max_mb, rule, match=match, mode=mode)
    return {"initializer": pool, "after_train": None if pool.read_only else PoolWriteBack(pool)}
