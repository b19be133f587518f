"""Per-architecture proxy scores (``scores.csv``): the table that ``nasrepro correlate`` writes from its
runs, and that the correlation, zc-search and hw-search read.

The scores are computed as runs (:mod:`nasrepro.bench.proxies.benchmark`, one run per chunk of cells,
through ``run_grid``): the run files are what resumes and what identifies the code and data that made a
score. A store is written from them (:func:`write_store`), atomically, once per command.

Layout (version 2): a plain CSV that ``pandas.read_csv(path)`` loads, and its settings in the sidecar
``scores.csv.provenance.json`` (:func:`bench.provenance.write_sidecar`; key ``"store"``)::

    index,arch,<proxy 1>,...,<proxy k>,seconds,cpu_seconds
    1234,|nor_conv_3x3~0|+...,0.51,...,1.73,1.70

Version 1 files (settings on a first ``# nasrepro-proxy-scores {...}`` line) are still read.

``seconds`` is the wall-clock time of scoring the architecture (all proxies), ``cpu_seconds`` the
CPU time of the process over the same span (on a shared machine the fairer cost measure); floats are
written with ``repr`` (``nan``/``inf`` stay as they are).

Read it with :func:`read_scores`; several stores of one folder (other proxies on the same cells) with
:func:`read_score_dir`; :func:`plan_stores` says which store of a folder holds which proxies.
"""

from __future__ import annotations

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


def write_store(path: str | Path, settings: dict[str, Any], rows: list[tuple[int, str, dict[str, float], float, float]],
                sources: dict[str, Any] | None = None) -> bool:
    """Write a store at ``path`` (atomically: the CSV, then its sidecar): ``settings`` (must name the
    ``proxies``) and one ``(index, arch, scores, seconds, cpu_seconds)`` row per cell, in order. A store
    that already holds exactly this text and these settings is left as it is (its provenance keeps the
    run that made it); returns whether it was written. ``sources`` go to the sidecar's provenance."""
    from nasrepro.bench.io import atomic_write_text
    from nasrepro.bench.provenance import provenance, write_sidecar

    settings = json.loads(json.dumps(settings))  # normalise tuples -> lists
    proxies = list(settings.get("proxies") or [])
    if not proxies:
        raise ValueError("store settings must name the proxies")
    lines = [",".join(["index", "arch", *proxies, "seconds", "cpu_seconds"])]
    for index, arch, scores, seconds, cpu_seconds in rows:
        missing = [p for p in proxies if p not in scores]
        if missing:
            raise ValueError(f"scores for index {index} lack {missing}")
        if "," in arch or "\n" in arch:
            raise ValueError(f"architecture string {arch!r} may not contain commas or newlines")
        lines.append(",".join([str(int(index)), arch, *(_fmt(scores[p]) for p in proxies), _fmt(seconds),
                               _fmt(cpu_seconds)]))
    text = "\n".join(lines) + "\n"
    path = Path(path)
    side = sidecar_path(path)
    if path.is_file() and side.is_file():
        try:
            same = path.read_text(encoding="utf-8") == text and _read_settings(path, "") == {"version": VERSION, **settings}
        except ValueError:
            same = False
        if same:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    write_sidecar(path, provenance(sources=sources or {},
                                   extra={"store": {"format": FORMAT, "version": VERSION, **settings}}))
    return True


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
