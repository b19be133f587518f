"""Append-only store of per-architecture proxy scores (``scores.csv``).

Layout (version 2): a plain CSV that ``pandas.read_csv(path)`` loads, and its settings in the sidecar
``scores.csv.provenance.json`` (:func:`bench.provenance.write_sidecar`; key ``"store"``)::

    index,arch,<proxy 1>,...,<proxy k>,seconds,cpu_seconds
    1234,|nor_conv_3x3~0|+...,0.51,...,1.73,1.70

Version 1 files (settings on a first ``# nasrepro-proxy-scores {...}`` line) are still read; opening one
to append rewrites it as version 2 first (atomic), so the file loads with plain ``pandas.read_csv``.

``seconds`` is the wall-clock time of scoring the architecture (all proxies), ``cpu_seconds`` the
CPU time of the process over the same span (on a shared machine the fairer cost measure).

- one row per scored architecture, flushed as soon as it is written, so an interruption loses at
  most the row being written; floats are written with ``repr`` (``nan``/``inf`` stay as they are);
- on reopening, the stored settings must equal the requested ones (else ``ValueError``),
  the completed indices are reloaded and skipped, and a truncated last line is dropped (redone);
- only the set of completed indices is held in memory, so memory stays flat over 15,625 cells.

Read it with :func:`read_scores`; several stores of one folder (other proxies on the same cells) with
:func:`read_score_dir`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

FORMAT = "nasrepro-proxy-scores"
VERSION = 2
OLD_VERSIONS = (1,)  # read (and migrated on append), never written


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".provenance.json")


def _write_settings(path: Path, settings: dict[str, Any]) -> None:
    from nasrepro.bench.provenance import provenance, write_sidecar

    write_sidecar(path, provenance(extra={"store": {"format": FORMAT, "version": VERSION, **settings}}))


def _read_settings(path: Path, first_line: str) -> dict[str, Any]:
    """The settings of a store: from the sidecar (version 2) or the ``# ...`` first line (version 1)."""
    if first_line.startswith("# "):
        return _parse_header(first_line + "\n", path)
    side = sidecar_path(path)
    if not side.is_file():
        raise ValueError(f"{path} is not a proxy score store ({side.name} not found); use another --out")
    try:
        meta = dict(json.loads(side.read_text(encoding="utf-8"))["store"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{side}: unreadable store settings; delete the store or use another --out") from None
    if meta.pop("format", None) != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{side}: not a version-{VERSION} {FORMAT} sidecar; delete the store or use another --out")
    return meta


def _header_line(settings: dict[str, Any]) -> str:
    return f"# {FORMAT} " + json.dumps({"version": VERSION, **settings}, sort_keys=True) + "\n"


def _parse_header(line: str, path: Path) -> dict[str, Any]:
    prefix = f"# {FORMAT} "
    if not line.startswith(prefix):
        raise ValueError(f"{path} is not a proxy score store (first line must start with {prefix!r}); use another --out")
    try:
        meta = json.loads(line[len(prefix):])
    except json.JSONDecodeError:
        raise ValueError(f"{path}: unreadable header line; delete the file or use another --out") from None
    if meta.get("version") not in (VERSION, *OLD_VERSIONS):
        raise ValueError(
            f"{path} was written by store format version {meta.get('version')}, this is version {VERSION}; "
            "delete it or use another --out"
        )
    return meta


def _fmt(v: float) -> str:
    return repr(float(v))


class ScoreStore:
    """Open (create or resume) a score store at ``path`` for ``settings`` (JSON-serialisable; must
    contain ``proxies``). Use as a context manager; :meth:`append` writes and flushes one row."""

    def __init__(self, path: str | Path, settings: dict[str, Any]) -> None:
        if "proxies" not in settings or not settings["proxies"]:
            raise ValueError("store settings must name the proxies")
        self.path = Path(path)
        self.settings = json.loads(json.dumps(settings))  # normalise tuples -> lists
        self.proxies: list[str] = list(self.settings["proxies"])
        self.columns = ["index", "arch", *self.proxies, "seconds", "cpu_seconds"]
        self.done: set[int] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0:
            self._resume()
        else:
            _write_settings(self.path, self.settings)
            with open(self.path, "w", encoding="utf-8", newline="") as fh:
                fh.write(",".join(self.columns) + "\n")
        # Always append mode (O_APPEND): every row lands at the current end of the file, also when
        # other shard workers append to it (a "w" handle would write at its own offset over theirs).
        self._fh = open(self.path, "a", encoding="utf-8", newline="")

    def _resume(self) -> None:
        with open(self.path, "rb") as fh:
            data = fh.read()
        if not data.endswith(b"\n"):
            # a row cut short by an interruption: drop it, it will be redone
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)
            data = data[:cut]
        lines = data.decode("utf-8").splitlines()
        old = bool(lines) and lines[0].startswith("# ")
        if lines and old:
            lines = self._migrate(lines)
        if not lines:
            raise ValueError(f"{self.path}: store has no column line; delete it or use another --out")
        meta = _read_settings(self.path, lines[0])
        meta.pop("version")
        if meta != self.settings:
            diff = sorted(k for k in set(meta) | set(self.settings) if meta.get(k) != self.settings.get(k))
            detail = "; ".join(f"{k}: stored {meta.get(k)!r} vs now {self.settings.get(k)!r}" for k in diff)
            raise ValueError(f"{self.path} was written with other settings ({detail}); use another --out or the same settings")
        if lines[0].split(",") != self.columns:
            raise ValueError(f"{self.path}: columns {lines[0]!r} do not match {self.columns}; use another --out")
        for n, row in enumerate(csv.reader(lines[1:]), start=2):
            if len(row) != len(self.columns):
                raise ValueError(f"{self.path} line {n}: {len(row)} fields, expected {len(self.columns)}; the store is damaged")
            self.done.add(int(row[0]))

    def _migrate(self, lines: list[str]) -> list[str]:
        """Version 1 -> 2: settings to the sidecar, the ``#`` line out of the CSV (atomic rewrite)."""
        from nasrepro.bench.io import atomic_write_text

        meta = _parse_header(lines[0] + "\n", self.path)
        meta.pop("version")
        if meta != self.settings:
            return lines  # refused below with the settings diff; the old file stays as it is
        _write_settings(self.path, meta)
        atomic_write_text(self.path, "\n".join(lines[1:]) + "\n")
        return lines[1:]

    def _flush(self) -> None:
        # flush per row: the row is in the OS after each append (one write() call per row, so
        # shard workers appending to the same file with O_APPEND never interleave within a row)
        self._fh.flush()

    def append(self, index: int, arch: str, scores: dict[str, float], seconds: float,
               cpu_seconds: float = float("nan")) -> None:
        missing = [p for p in self.proxies if p not in scores]
        if missing:
            raise ValueError(f"scores for index {index} lack {missing}")
        if "," in arch or "\n" in arch:
            raise ValueError(f"architecture string {arch!r} may not contain commas or newlines")
        row = [str(int(index)), arch, *(_fmt(scores[p]) for p in self.proxies), _fmt(seconds), _fmt(cpu_seconds)]
        self._fh.write(",".join(row) + "\n")
        self._flush()
        self.done.add(int(index))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_scores(path: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """``(settings, frame)``: the header's settings and one row per architecture (``index``, ``arch``,
    one float column per proxy, ``seconds``); a truncated last line is ignored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `nasrepro correlate ... --out DIR` first")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    first, _, rest = text.partition("\n")
    meta = _read_settings(path, first)
    body = rest if first.startswith("# ") else text
    frame = pd.read_csv(io.StringIO(body), dtype={"arch": str})
    for col in frame.columns:
        if col not in ("index", "arch"):
            frame[col] = frame[col].astype(float)
    frame = frame.drop_duplicates("index", keep="first").reset_index(drop=True)
    return meta, frame



def _store_files(folder: Path) -> list[Path]:
    """``scores.csv`` first, then ``scores-*.csv`` in name order (sidecars and temp files excluded)."""
    main = [folder / "scores.csv"] if (folder / "scores.csv").is_file() else []
    return main + sorted(p for p in folder.glob("scores-*.csv") if p.is_file())


def _same_except_proxies(a: dict[str, Any], b: dict[str, Any]) -> bool:
    drop = ("proxies", "version", "zico_batches")
    return {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


def plan_stores(folder: str | Path, settings: dict[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """Where to score ``settings["proxies"]`` in ``folder``: each existing store keeps the requested
    proxies it holds (resumed there); the rest go to ``scores.csv`` when no store exists yet, else to a
    new ``scores-<proxy>-<k>.csv``. So adding proxies to a finished run scores only the new ones, and the
    old file is never rewritten. All stores of a folder share every setting but the proxies: a store
    written with another batch, seed, dataset or images is a ``ValueError`` naming the difference."""
    folder = Path(folder)
    want = list(settings["proxies"])
    plan: list[tuple[Path, dict[str, Any]]] = []
    for path in _store_files(folder):
        with open(path, encoding="utf-8") as fh:
            first = fh.readline().rstrip("\n")
        try:
            meta = _read_settings(path, first)
        except ValueError:
            continue
        meta.pop("version", None)
        if not _same_except_proxies(meta, settings):  # one folder = one run: cells, batch, seed, images
            diff = sorted(k for k in set(meta) | set(settings) if k not in ("proxies", "zico_batches")
                          and meta.get(k) != settings.get(k))
            detail = "; ".join(f"{k}: stored {meta.get(k)!r} vs now {settings.get(k)!r}" for k in diff)
            raise ValueError(f"{path} was written with other settings ({detail}); use another --out or the same settings")
        held = [p for p in meta.get("proxies", []) if p in want]
        if held:
            plan.append((path, meta))
            want = [p for p in want if p not in held]
    if want:
        name = "scores.csv" if not _store_files(folder) else f"scores-{want[0]}-{len(want)}.csv"
        new = {k: v for k, v in settings.items() if k != "zico_batches"}
        if "zico" in want and "zico_batches" in settings:
            new["zico_batches"] = settings["zico_batches"]
        plan.append((folder / name, {**new, "proxies": want}))
    return plan


def read_score_dir(folder: str | Path, proxies: list[str] | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """All stores of ``folder`` merged on ``index`` (cells scored in every store that holds a requested
    proxy): ``(settings, frame)`` with ``settings["proxies"]`` the union in store order, ``seconds`` and
    ``cpu_seconds`` summed over the stores, and ``seconds:<file>`` kept per store."""
    folder = Path(folder)
    files = _store_files(folder)
    if not files:
        raise FileNotFoundError(f"no scores.csv in {folder}; run `nasrepro correlate ... --out DIR` first")
    meta: dict[str, Any] = {}
    merged: pd.DataFrame | None = None
    names: list[str] = []
    for path in files:
        m, frame = read_scores(path)
        cols = [p for p in m["proxies"] if p not in names and (proxies is None or p in proxies)]
        if not cols:
            continue
        names += cols
        meta = meta or {k: v for k, v in m.items() if k != "proxies"}
        part = frame[["index", "arch", *cols, "seconds", "cpu_seconds"]].rename(
            columns={"seconds": f"seconds:{path.name}", "cpu_seconds": f"cpu_seconds:{path.name}"})
        merged = part if merged is None else merged.merge(part.drop(columns="arch"), on="index", how="inner")
    if merged is None:
        raise ValueError(f"no store in {folder} holds any of {proxies}")
    for kind in ("seconds", "cpu_seconds"):
        merged[kind] = merged[[c for c in merged.columns if c.startswith(kind + ":")]].sum(axis=1, min_count=1)
    meta["proxies"] = names
    return meta, merged.reset_index(drop=True)
