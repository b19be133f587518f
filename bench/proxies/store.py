"""Append-only store of per-architecture proxy scores (``scores.csv``).

Layout (version 1)::

    # nasrepro-proxy-scores {"version": 1, "proxies": [...], "dataset": ..., "batch": 64, "seed": 0, ...}
    index,arch,<proxy 1>,...,<proxy k>,seconds,cpu_seconds
    1234,|nor_conv_3x3~0|+...,0.51,...,1.73,1.70

``seconds`` is the wall-clock time of scoring the architecture (all proxies), ``cpu_seconds`` the
CPU time of the process over the same span (on a shared machine the fairer cost measure).

- one row per scored architecture, flushed as soon as it is written, so an interruption loses at
  most the row being written; floats are written with ``repr`` (``nan``/``inf`` stay as they are);
- on reopening, the header must name the same format version and settings (else ``ValueError``),
  the completed indices are reloaded and skipped, and a truncated last line is dropped (redone);
- only the set of completed indices is held in memory, so memory stays flat over 15,625 cells.

Read it with :func:`read_scores` (or ``pandas.read_csv(path, comment="#")``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

FORMAT = "nasrepro-proxy-scores"
VERSION = 1


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
    if meta.get("version") != VERSION:
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
            with open(self.path, "w", encoding="utf-8", newline="") as fh:
                fh.write(_header_line(self.settings))
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
        if len(lines) < 2:
            raise ValueError(f"{self.path}: store has no column line; delete it or use another --out")
        meta = _parse_header(lines[0] + "\n", self.path)
        meta.pop("version")
        if meta != self.settings:
            diff = sorted(k for k in set(meta) | set(self.settings) if meta.get(k) != self.settings.get(k))
            detail = "; ".join(f"{k}: stored {meta.get(k)!r} vs now {self.settings.get(k)!r}" for k in diff)
            raise ValueError(f"{self.path} was written with other settings ({detail}); use another --out or the same settings")
        if lines[1].split(",") != self.columns:
            raise ValueError(f"{self.path}: columns {lines[1]!r} do not match {self.columns}; use another --out")
        for n, row in enumerate(csv.reader(lines[2:]), start=3):
            if len(row) != len(self.columns):
                raise ValueError(f"{self.path} line {n}: {len(row)} fields, expected {len(self.columns)}; the store is damaged")
            self.done.add(int(row[0]))

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
    meta = _parse_header(first + "\n", path)
    frame = pd.read_csv(io.StringIO(rest), dtype={"arch": str})
    for col in frame.columns:
        if col not in ("index", "arch"):
            frame[col] = frame[col].astype(float)
    frame = frame.drop_duplicates("index", keep="first").reset_index(drop=True)
    return meta, frame

