"""FNAS's lifelong block-weight pool, on disk, keyed by block identity.

A block is one addressable piece of an :class:`~bench.nb201.network.NB201Network` (stem, one cell
edge's op, a reduction block, the head); its identity is :attr:`Block.key`
(``kind:op:in_shape->out_shape:stage:cell:edge``), so two archs share a block exactly when the same
op sits at the same place with the same shapes ("block similarity" = identity of that key).

- ``load_into(net, arch) -> hit_ratio``: every block with parameters whose key is in the pool (in the
  current *snapshot*) is initialised from it; hit ratio = hits / blocks with parameters (blocks
  without parameters - skip, none, pooling - are not counted).
- ``write_back(net, arch)``: after training, every block is offered back; ``rule="latest"`` keeps the
  newest weights, ``"average"`` a running mean over all write-backs (count kept in the entry; BN
  running statistics are averaged too, integer buffers take the latest).
- ``snapshot()``: strict fairness. Write-backs are staged (on disk, in ``pending/``) and become
  visible only at the next snapshot, so all rollouts of one batch (e.g. a PPO batch) inherit from
  the same pool state. :meth:`announce` takes the runner's hints: a *change* of the generic
  ``batch`` hint (the index of the method's current batch; PPO and FNAS send it, see
  :meth:`bench.core.Benchmark.announce`) takes a snapshot. A method that sends no such hint gets a
  snapshot before every rollout (each rollout inherits from all earlier ones).

On disk: ``DIR/blocks/<sha1(key)>.pt`` (a torch file holding the format tag, the key, the tensors
and the write-back count), ``DIR/index.json`` (LRU clock and sizes). Every file is written atomically
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
import warnings
from pathlib import Path
from typing import Any

import torch

from bench.core import Arch
from bench.io import atomic_write_bytes, atomic_write_text

FORMAT = "nasrepro-weight-pool/1"
RULES = ("latest", "average")


class PoolWarning(UserWarning):
    """A pool entry was skipped (corrupted, foreign or of the wrong shape)."""


def _key_file(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest() + ".pt"


class WeightPool:
    def __init__(self, directory: Path | str, max_mb: float = 256.0, rule: str = "latest",
                 image_size: int | None = None) -> None:
        if rule not in RULES:
            raise ValueError(f"weight pool rule must be one of {', '.join(RULES)}, got {rule!r}")
        if not max_mb > 0:
            raise ValueError(f"weight pool max_mb must be > 0, got {max_mb}")
        self.dir = Path(directory)
        if self.dir.exists() and not self.dir.is_dir():
            raise NotADirectoryError(f"weight pool {self.dir} exists and is not a folder; pass a folder path")
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.rule = rule
        self.image_size = image_size
        for sub in ("blocks", "pending", "quarantine"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.index = self._read_index()
        self.stats = {"loads": 0, "hits": 0, "blocks": 0, "bad": 0, "writes": 0, "evicted": 0, "snapshots": 0}
        self.last_hit_ratio: float | None = None
        self._batch_hint: Any = None  # last ``batch`` hint seen (None: no batch structure known)
        self._commit_pending()  # a previous run's staged writes are not lost

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
        atomic_write_text(self.dir / "index.json", json.dumps(self.index, sort_keys=True))

    def _touch(self, name: str, size: int | None = None) -> None:
        self.index["clock"] += 1
        e = self.index["entries"].setdefault(name, {"bytes": 0, "used": 0})
        e["used"] = self.index["clock"]
        if size is not None:
            e["bytes"] = size

    @property
    def size_bytes(self) -> int:
        return int(sum(e["bytes"] for e in self.index["entries"].values()))

    def __len__(self) -> int:
        return len(self.index["entries"])

    # ---- entries -----------------------------------------------------------------------------
    def _bad(self, path: Path, why: str) -> None:
        self.stats["bad"] += 1
        warnings.warn(f"weight pool entry {path.name} skipped: {why}", PoolWarning, stacklevel=3)
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
        """Initialise every block found in the pool; return the hit ratio (0..1)."""
        if self._batch_hint is None:
            self.snapshot()  # no batches announced: every rollout sees all earlier write-backs
        blocks = self._blocks(net)
        hits = 0
        for b in blocks:
            path = self.dir / "blocks" / _key_file(b.key)
            if not path.exists():
                continue
            entry = self._read(path, b.key)
            if entry is None:
                continue
            own = b.module.state_dict()
            state = entry["state"]
            if set(state) != set(own) or any(tuple(state[k].shape) != tuple(own[k].shape) for k in own):
                self._bad(path, "tensor names or shapes differ from the block's")
                continue
            b.module.load_state_dict({k: state[k].to(own[k].dtype) for k in own})
            self._touch(path.name)
            hits += 1
        self.stats["loads"] += 1
        self.stats["hits"] += hits
        self.stats["blocks"] += len(blocks)
        self._write_index()
        self.last_hit_ratio = hits / len(blocks) if blocks else 0.0
        return self.last_hit_ratio

    def write_back(self, net: Any, arch: Arch | None = None, rule: str | None = None) -> None:
        """Offer every block back (staged in ``pending/`` until the next snapshot)."""
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
        """As ``nb201-live``'s ``initializer``: load and report the hit ratio."""
        return {"pool_hit_ratio": self.load_into(net, arch), "pool_entries": len(self)}

    # ---- fairness ----------------------------------------------------------------------------
    def snapshot(self) -> None:
        """Commit the staged write-backs and freeze the pool until the next snapshot."""
        self._commit_pending()
        self.stats["snapshots"] += 1

    def _commit_pending(self) -> None:
        pending = sorted((self.dir / "pending").glob("*.pt"))
        for path in pending:
            os.replace(path, self.dir / "blocks" / path.name)
            self._touch(path.name, (self.dir / "blocks" / path.name).stat().st_size)
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


def pool_hooks(directory: Path | str, max_mb: float = 256.0, rule: str = "latest") -> dict[str, Any]:
    """``initializer`` and ``after_train`` options for :class:`bench.nb201.live.NB201Live`."""
    pool = WeightPool(directory, max_mb, rule)
    return {"initializer": pool, "after_train": PoolWriteBack(pool)}
