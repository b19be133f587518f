"""Runs a method against a benchmark under a budget, and grids of such runs.

One run = (benchmark spec, method, seed, budget) -> one JSONL trajectory, written
atomically when the run ends: a file that exists is a finished run. A grid skips the
runs whose file exists, so an interrupted grid (Ctrl-C, kill -9) resumes without
losing or repeating a run, and ends with exactly the files an uninterrupted grid writes.

Seeds: ``numpy.random.SeedSequence(seed).spawn(2)`` gives the method's generator and
the benchmark's (evaluation noise, live training) generator, so a run is reproducible
in another process and independent of the grid's order or worker count.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import Arch, Benchmark, Record, SearchSpace
from bench.io import atomic_write_jsonl, read_jsonl
from bench.registry import make_benchmark
from methods.base import Method, make_method

FORMAT_VERSION = 1
Wrapper = Callable[[Method, SearchSpace, np.random.Generator], Method]


@dataclass(frozen=True)
class Budget:
    """Stop once ``evals`` evaluations were made or ``seconds`` of cost were spent.

    As in the NB201 scripts (``while total_time < budget``), the evaluation that crosses
    a time budget is kept.
    """

    evals: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str | int | float) -> Budget:
        s = str(text).strip().lower().replace("_", "")
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds|evals?|evaluations?)?", s)
        if not m:
            raise ValueError(f"malformed budget {text!r}: use e.g. '12000s' (simulated seconds) or '150evals'")
        value, unit = float(m.group(1)), (m.group(2) or "evals")
        if value <= 0:
            raise ValueError(f"empty budget {text!r}: give a positive number of seconds or evaluations")
        if unit.startswith("s"):
            return cls(seconds=value)
        if value != int(value):
            raise ValueError(f"budget {text!r}: a number of evaluations must be a whole number")
        return cls(evals=int(value))

    def exhausted(self, n_evals: int, cost_s: float) -> bool:
        if self.evals is not None and n_evals >= self.evals:
            return True
        return self.seconds is not None and cost_s >= self.seconds

    def __str__(self) -> str:
        return f"{self.evals}evals" if self.evals is not None else f"{self.seconds:g}s"


@dataclass
class RunResult:
    records: list[Record]
    final: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    method: Method | None = None  # the method object after the run (telemetry for reproductions)

    @property
    def n_evals(self) -> int:
        return len(self.records)

    @property
    def cost_s(self) -> float:
        return self.records[-1].cum_cost_s if self.records else 0.0


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(method rng, benchmark rng) for a seed."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    method_ss, bench_ss = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(method_ss), np.random.default_rng(bench_ss)


def run_search(
    benchmark: Benchmark,
    method_name: str,
    seed: int,
    budget: Budget | str,
    params: dict[str, Any] | None = None,
    wrap: Wrapper | None = None,
    max_steps: int = 1_000_000,
) -> RunResult:
    """Run one search; only here is ``benchmark.final`` called, once, at the end."""
    if isinstance(budget, str):
        budget = Budget.parse(budget)
    m_rng, b_rng = seed_streams(seed)
    benchmark.reset()
    method = make_method(method_name, benchmark.space, m_rng, **(params or {}))
    if wrap is not None:
        method = wrap(method, benchmark.space, m_rng)
    records: list[Record] = []
    cum = 0.0
    best_arch: Arch | None = None
    best_score = -math.inf
    t0 = time.perf_counter()
    while not budget.exhausted(len(records), cum) and len(records) < max_steps:
        if records and method.done():
            break
        arch = method.ask()
        arch = benchmark.space.check(arch)
        obs = benchmark.query(arch, b_rng)
        if not (math.isfinite(obs.cost_s) and obs.cost_s >= 0):
            raise ValueError(f"benchmark returned cost {obs.cost_s} for {arch}: costs must be finite and >= 0")
        method.tell(arch, obs)
        hints = method.hints()
        if hints:
            benchmark.announce(hints)
        cum += obs.cost_s
        if obs.score > best_score:
            best_arch, best_score = arch, obs.score
        assert best_arch is not None
        records.append(
            Record(
                step=len(records),
                arch=benchmark.space.to_str(arch),
                score=float(obs.score),
                cost_s=float(obs.cost_s),
                cum_cost_s=cum,
                incumbent=benchmark.space.to_str(best_arch),
                incumbent_score=float(best_score),
                extra={**obs.info, **method.step_info()},
            )
        )
    if not records:
        raise ValueError(f"budget {budget} allowed no evaluation; give a larger budget")
    found = method.recommend()
    final = {"final_arch": benchmark.space.to_str(found)}
    final.update({f"final_{k}": v for k, v in benchmark.final(found).items()})
    meta = {
        "format": FORMAT_VERSION,
        "method": method_name,
        "params": params or {},
        "seed": seed,
        "budget": str(budget),
        "space": benchmark.space.name,
        "wall_s": time.perf_counter() - t0,
        **benchmark.describe(),
    }
    ledger = benchmark.ledger()
    if ledger:
        meta["ledger"] = ledger
    return RunResult(records, final, meta, method)


# ---------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class RunSpec:
    """A picklable description of one run of a grid."""

    bench: str
    method: str
    seed: int
    budget: str
    bench_options: tuple[tuple[str, Any], ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    tag: str = ""  # folder name of the method's runs (default: the method's name)
    group: str = ""  # optional sub-folder (e.g. the dataset) for grids over several benchmarks

    def path(self, out_dir: Path) -> Path:
        return Path(out_dir, self.group, self.tag or self.method, f"seed{self.seed}.jsonl")


@lru_cache(maxsize=8)
def _cached_benchmark(bench: str, options: tuple[tuple[str, Any], ...]) -> Benchmark:
    # One table per worker process, shared by all of its runs.
    return make_benchmark(bench, **dict(options))


def _settings(spec: RunSpec) -> dict[str, Any]:
    """What must agree between a finished run's file and a request to resume it."""
    import json

    from bench.io import file_fingerprint

    # A file option (a table, a checkpoint) is identified by its content too: a supernet retrained
    # at the same path must not let runs searched on the old one pass as finished.
    files = {k: file_fingerprint(v) for k, v in spec.bench_options
             if isinstance(v, str | Path) and Path(v).is_file()}
    return json.loads(json.dumps({
        "format": FORMAT_VERSION, "bench": spec.bench, "method": spec.method, "seed": spec.seed,
        "budget": str(Budget.parse(spec.budget)), "bench_options": dict(spec.bench_options),
        "bench_files": files, "params": dict(spec.params),
    }, default=str))


def check_existing(spec: RunSpec, out_dir: Path) -> bool:
    """True when ``spec``'s run is already finished; an existing file made differently is an error."""
    path = spec.path(out_dir)
    if not path.exists():
        return False
    import json

    with open(path, encoding="utf-8") as fh:
        try:
            meta = json.loads(fh.readline())
        except ValueError:
            meta = {}
    if meta.get("settings") != _settings(spec):
        raise ValueError(
            f"{path} holds a run made with other settings ({meta.get('settings')}); "
            "use another --out, or delete that folder to redo it"
        )
    return True


def execute(spec: RunSpec, out_dir: Path) -> Path:
    """Run ``spec`` unless its file exists; write the trajectory atomically."""
    path = spec.path(out_dir)
    if check_existing(spec, out_dir):
        return path
    benchmark = _cached_benchmark(spec.bench, spec.bench_options)
    result = run_search(benchmark, spec.method, spec.seed, Budget.parse(spec.budget), dict(spec.params))
    meta = {**result.meta, "type": "meta", "tag": spec.tag or spec.method, "group": spec.group,
            "settings": _settings(spec)}
    rows: list[dict[str, Any]] = [meta]
    rows += [{"type": "step", **asdict(r)} for r in result.records]
    rows.append({"type": "final", "n_evals": result.n_evals, "cost_s": result.cost_s, **result.final})
    atomic_write_jsonl(path, rows)
    return path


def _execute_quiet(spec: RunSpec, out_dir: Path) -> Path:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    return execute(spec, out_dir)


def run_grid(
    specs: Iterable[RunSpec], out_dir: Path | str, workers: int = 1, progress: bool = True
) -> list[Path]:
    """Run every spec whose trajectory is missing; return all trajectory paths (in spec order)."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    specs = list(specs)
    todo = [s for s in specs if not check_existing(s, out_dir)]
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc="runs", unit="run", disable=not progress)
    try:
        if workers <= 1 or len(todo) <= 1:
            for spec in todo:
                execute(spec, out_dir)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_execute_quiet, s, out_dir) for s in todo]
                for fut in as_completed(futures):
                    fut.result()
                    bar.update()
    finally:
        bar.close()
    return [s.path(out_dir) for s in specs]


def load_run(path: Path | str) -> dict[str, Any]:
    """A trajectory file as {'meta': ..., 'steps': [...], 'final': ...}; a bad file -> ValueError."""
    try:
        rows = read_jsonl(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read run file {path}: {err}; delete it to rerun that run") from None
    kinds = [r.get("type") for r in rows]
    if not rows or kinds[0] != "meta" or kinds[-1] != "final":
        raise ValueError(f"{path} is not a complete nasrepro run file; delete it to rerun that run")
    return {"meta": rows[0], "steps": rows[1:-1], "final": rows[-1]}
