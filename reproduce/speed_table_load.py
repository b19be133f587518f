"""Benchmark (not a test): NB201 table load time and peak memory, compact ``.npz`` vs the official API.

    nasrepro speed table-load [--sizes 250 500 1000] [--workdir DIR] [--out results/speed]

For each size N it writes an official-format ``NAS-Bench-201-v1_1`` ``.pth`` with N cells
(``tests/nb201_fixtures.py``: all four data sets, 12- and 200-epoch entries with every
per-epoch value, v1_1's seed counts and calibrated times; into a temporary folder, never
the repository), converts it with ``nasrepro data convert``, and loads it in a fresh
subprocess per backend, recording wall time and peak RSS (``VmHWM`` of that process):

- ``api-legacy``: ``nas_201_api.NASBench201API(path)`` with torch's unrestricted unpickler
  (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: what the API did under torch < 2.6);
- ``api-torch``: the same through ``torch.load(weights_only=True)`` with the file's numpy
  scalars allow-listed (what torch >= 2.6 needs; without the allow-list the API fails);
- ``api-fast``: the same API objects, file read by our restricted C unpickler;
- ``direct``: ``bench.nb201.official.load_official_table`` (no API objects);
- ``compact``: ``bench.nb201.tables.load_compact`` of the converted ``.npz``, at N cells and
  at full size (15,625 cells x 3 data sets: the N-cell rows tiled, since load cost depends
  only on the array shapes).

A full v1_1-size official file (~4.7 GB, ~28 GB of RAM through the API) does not fit this
machine; official-file numbers at 15,625 cells are a least-squares line through the measured
sizes, labelled "extrapolated" wherever they appear.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FULL = 15_625
REAL_V1_1_GB = 4.7  # size of NAS-Bench-201-v1_1-096897.pth as distributed

# Each probe imports its modules first, then records RSS, loads, and reports.
_PROBE = r"""
import json, os, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import numpy as np, torch
torch.set_num_threads(1)
from nasrepro.bench.nb201 import official, tables
def status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
def rss_mb():
    return status_mb("VmRSS")
backend, path = sys.argv[1], sys.argv[2]
if backend.startswith("api"):
    import nas_201_api  # noqa: F401  (import cost is not load cost)
base = rss_mb(); t0 = time.perf_counter()
if backend == "api-legacy":
    obj = official.load_api(path, loader="legacy")
elif backend == "api-torch":
    obj = official.load_api(path, loader="torch")
elif backend == "api-fast":
    obj = official.load_api(path, loader="fast")
elif backend == "direct":
    obj = official.load_official_table(path, progress=False, allow_partial=True)
elif backend == "compact":
    obj = tables.load_compact(path, allow_partial=True)  # N-cell synthetic tables
else:
    raise SystemExit("unknown backend " + backend)
dt = time.perf_counter() - t0
# VmHWM: this process's own peak RSS (ru_maxrss would inherit the parent's peak at fork)
peak = status_mb("VmHWM")
print(json.dumps({{"load_s": dt, "peak_rss_mb": peak, "base_rss_mb": base}}))
"""


def probe(backend: str, path: Path, timeout_s: int) -> dict[str, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if backend == "api-legacy":
        env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    code = _PROBE.format(root=str(ROOT), tests=str(ROOT / "tests"))
    res = subprocess.run([sys.executable, "-c", code, backend, str(path)], capture_output=True, text=True,
                         env=env, timeout=timeout_s)
    if res.returncode != 0:
        raise RuntimeError(f"{backend} on {path} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def generate(path: Path, n: int) -> None:
    """Write the N-cell official-format file in a subprocess (its dict is large; free it after)."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "import nb201_fixtures as fx, numpy as np\n"
        # cells spread over the whole index range, v1_1 seed counts, constant per-epoch times
        f"idx = np.linspace(0, {FULL - 1}, {n}).round().astype(int)\n"
        f"fx.write_nb201_pth({str(path)!r}, idx, version='v1_1', seed=0, time_jitter=False, "
        "realistic_seed_counts=True)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def tile_full(src_npz: Path, dst_npz: Path) -> None:
    """A 15,625-cell compact table with the N-cell conversion's rows repeated."""
    from nasrepro.bench.nb201.tables import NB201Table, load_compact

    t = load_compact(src_npz, allow_partial=True)
    reps = -(-FULL // len(t))
    data = np.tile(t.data, (reps, 1, 1))[:FULL]
    seeds = np.tile(t.val_seeds_12, (reps, 1, 1))[:FULL] if t.val_seeds_12 is not None else None
    notes = dict(t.notes, benchmark=f"rows tiled from a {len(t)}-cell conversion to full size")
    NB201Table(np.arange(FULL), data, t.datasets, t.source, t.kind, seeds, notes).save_compact(dst_npz)


def fit(ns: list[int], ys: list[float]) -> tuple[float, float]:
    """Least-squares line y = a + b n."""
    b, a = np.polyfit(np.asarray(ns, float), np.asarray(ys, float), 1)
    return float(a), float(b)


NAME = "table-load"
DESCRIPTION = "NB201 table load time and peak memory: compact .npz vs the official API (generated files)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000])
    p.add_argument("--backends", nargs="+", default=["api-legacy", "api-torch", "api-fast", "direct", "compact"])
    p.add_argument("--torch-max", type=int, default=1000, help="skip api-torch (slow) above this many cells")
    p.add_argument("--workdir", default=None, help="where to write the generated files (default: a temp dir)")
    p.add_argument("--out", default=None, help="output folder (default results/speed)")
    p.add_argument("--timeout", type=int, default=900)


def run(args: argparse.Namespace) -> int:
    from nasrepro.reproduce._speed import speed_dir, write_outputs
    from tqdm import tqdm

    rows: list[dict[str, object]] = []
    tmp = tempfile.TemporaryDirectory(prefix="nb201-bench-") if args.workdir is None else None
    work = Path(args.workdir or tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    try:
        jobs = [(n, b) for n in args.sizes for b in args.backends if not (b == "api-torch" and n > args.torch_max)]
        bar = tqdm(total=len(jobs) + 2 * len(args.sizes), desc="table-load benchmark")
        full_npz = None
        for n in args.sizes:
            # not the official name: that name promises the official file's MD5 (bench.checksums)
            pth = work / f"N{n}" / "synthetic-NB201-v1_1.pth"
            pth.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            generate(pth, n)
            gen_s = time.perf_counter() - t0
            bar.update()
            npz = work / f"N{n}" / "nb201.npz"
            t0 = time.perf_counter()
            # in a subprocess too: keeps this driver small (its RSS must not leak into the probes)
            subprocess.run([sys.executable, "-m", "nasrepro.reproduce.cli", "data", "convert", str(pth), str(npz),
                            "--quiet", "--allow-partial"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            conv_s = time.perf_counter() - t0
            bar.update()
            common = {"cells": n, "file_mb": pth.stat().st_size / 2**20, "generate_s": gen_s, "convert_s": conv_s}
            for b in args.backends:
                if b == "api-torch" and n > args.torch_max:
                    continue
                target = npz if b == "compact" else pth
                r = probe(b, target, args.timeout)
                rows.append({"backend": b, "kind": "measured", **common,
                             "loaded_mb": target.stat().st_size / 2**20, **r})
                bar.set_postfix(n=n, backend=b, s=f"{r['load_s']:.1f}")
                bar.update()
            full_npz = work / "nb201_full.npz"
            tile_full(npz, full_npz)
        bar.close()
        assert full_npz is not None
        r = probe("compact", full_npz, args.timeout)
        rows.append({"backend": "compact", "kind": "measured (full size, tiled rows)", "cells": FULL,
                     "file_mb": float("nan"), "generate_s": float("nan"), "convert_s": float("nan"),
                     "loaded_mb": full_npz.stat().st_size / 2**20, **r})
    finally:
        if tmp is not None:
            tmp.cleanup()

    # extrapolate the official-file backends to 15,625 cells
    measured = [r for r in rows if r["kind"] == "measured"]
    file_a, file_b = fit([r["cells"] for r in measured if r["backend"] == "direct"],
                         [r["file_mb"] for r in measured if r["backend"] == "direct"])
    for b in args.backends:
        pts = [r for r in measured if r["backend"] == b]
        if b == "compact" or len(pts) < 2:
            continue
        ns = [int(r["cells"]) for r in pts]
        la, lb = fit(ns, [float(r["load_s"]) for r in pts])
        ma, mb = fit(ns, [float(r["peak_rss_mb"]) - float(r["base_rss_mb"]) for r in pts])
        base = float(np.mean([float(r["base_rss_mb"]) for r in pts]))
        rows.append({"backend": b, "kind": "EXTRAPOLATED (linear fit)", "cells": FULL,
                     "file_mb": file_a + file_b * FULL, "generate_s": float("nan"), "convert_s": float("nan"),
                     "loaded_mb": file_a + file_b * FULL, "load_s": la + lb * FULL,
                     "peak_rss_mb": base + ma + mb * FULL, "base_rss_mb": base})

    out = speed_dir(args.out)
    import pandas as pd

    df = pd.DataFrame(rows)
    df["delta_rss_mb"] = df["peak_rss_mb"] - df["base_rss_mb"]
    cols = ["backend", "kind", "cells", "loaded_mb", "load_s", "peak_rss_mb", "base_rss_mb", "delta_rss_mb",
            "file_mb", "generate_s", "convert_s"]
    df = df[cols]
    text = _markdown(df, file_b, args)
    path = write_outputs("table_load", out, df.to_dict("records"), text.splitlines(),
                         sources={"tables": "generated by tests/nb201_fixtures.py into a temporary folder"})
    print(text)
    print(f"wrote {path}")
    return 0


def _markdown(df, file_b: float, args: argparse.Namespace) -> str:  # type: ignore[no-untyped-def]
    import platform

    show = df.copy()
    for c in ("loaded_mb", "peak_rss_mb", "base_rss_mb", "delta_rss_mb", "file_mb"):
        show[c] = show[c].map(lambda v: f"{v:,.0f}" if v == v else "")
    for c in ("load_s", "generate_s", "convert_s"):
        show[c] = show[c].map(lambda v: f"{v:.3g}" if v == v else "")
    ncpu = os.cpu_count()
    lines = [
        "# NB201 table load: compact .npz vs the official API",
        "",
        f"Machine: {platform.platform()}, {ncpu} CPUs (shared with other jobs: wall times are noisy), "
        f"Python {platform.python_version()}. Command: `nasrepro speed table-load "
        f"--sizes {' '.join(map(str, args.sizes))}`.",
        "",
        "Each row is one fresh subprocess. `load_s`: wall time of the load call only (imports excluded). "
        "`peak_rss_mb`: peak resident memory of the process (VmHWM, imports included); "
        "`base_rss_mb`: resident memory after imports, before loading; `delta_rss_mb` = peak - base.",
        "",
        "Official-format files are generated by `tests/nb201_fixtures.py` (N cells spread over the index range, "
        "all four data sets, 12- and 200-epoch entries with every per-epoch value, v1_1 seed counts) into a "
        f"temporary folder. They take {file_b * 1024:.0f} KB per cell on disk, so 15,625 cells would be "
        f"~{file_b * FULL / 1024:.1f} GB (the real v1_1 file: ~{REAL_V1_1_GB} GB). **Rows marked EXTRAPOLATED are "
        "a straight-line fit through the measured sizes, not measurements**: a full-size official file "
        "does not fit this 24 GB machine next to other jobs.",
        "",
        "Backends: `api-legacy` = `NASBench201API(path)` with torch's unrestricted unpickler "
        "(`TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`, the behaviour of torch < 2.6 the API was written for); "
        "`api-torch` = the same through `torch.load(weights_only=True)` with the numpy scalars allow-listed "
        "(needed on torch >= 2.6); `api-fast` = the same API objects, file read by our restricted C unpickler; "
        "`direct` = `load_official_table` (file -> table, no API objects: what `nasrepro data convert` does); "
        "`compact` = `load_compact` of the converted `.npz`.",
        "",
        show.to_markdown(index=False),
        "",
    ]
    return "\n".join(lines)

