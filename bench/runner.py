"""Runs a method against a benchmark under a budget, and grids of such runs.

One run = (benchmark spec, method, wrappers, seed, budget) -> one JSONL trajectory, written
atomically by the driver when the run's result arrives: a file that exists is a finished run. A
grid skips the runs whose file exists, so an interrupted grid (Ctrl-C, kill -9) resumes without
losing or repeating a run, and ends with exactly the files an uninterrupted grid writes.

Identity: a run's meta line holds its *resolved settings* (:func:`settings`): the method's full
parameters (defaults included), the wrapper chain with every option, the benchmark options, the
content fingerprint of every file it read (never a path: a table given as a relative or an
absolute path is the same table) and the package version. Resuming compares them with what the
request resolves to now; a changed default, wrapper or data file makes the old run *stale*: refused
in one line naming the first differing key, or recomputed with ``redo_stale``. Never reused.

Determinism: the trajectory file holds no wall-clock field; measured timings (wall and CPU seconds,
a supernet's phase ledger) go to ``seed<k>.ledger.json`` beside it, so the same spec gives a
byte-identical trajectory in any process, worker count or executor.

Seeds: ``numpy.random.SeedSequence(seed).spawn(2)`` gives the method's generator and
the benchmark's (evaluation noise, live training) generator, so a run is reproducible
in another process and independent of the grid's order or worker count.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, Benchmark, Record, SearchSpace
from nasrepro.bench.io import atomic_write_jsonl, atomic_write_text, file_fingerprint, read_jsonl
from nasrepro.bench.registry import make_benchmark
from nasrepro.methods.base import (
    Method,
    Resolved,
    apply_wrappers,
    make_method,
    resolve_method,
    resolve_wrapper,
)

FORMAT_VERSION = 2
MAX_EVALS = 10_000_000
MAX_SECONDS = 1e12
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
            if value > MAX_SECONDS:
                raise ValueError(f"budget {text!r} is beyond {MAX_SECONDS:.0e} seconds; give a finite budget")
            return cls(seconds=value)
        if value != int(value):
            raise ValueError(f"budget {text!r}: a number of evaluations must be a whole number")
        if value > MAX_EVALS:
            raise ValueError(f"budget {text!r}: at most {MAX_EVALS:,} evaluations per run")
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
    method: Method | None = None  # the method object after the run (for tests; reports read the records)
    timing: dict[str, Any] = field(default_factory=dict)  # wall_s, cpu_s, ledger: never in the trajectory

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
    wrappers: tuple[str, ...] = (),
) -> RunResult:
    """Run one search; only here is ``benchmark.final`` called, once, at the end.

    ``wrappers`` are wrapper specs (``"warmup:n=1000,proxy=params"``) applied innermost first;
    ``wrap`` is a callable wrapper for code that builds its own (applied after them).
    """
    steps, final, meta, method, timing, _ = _run(benchmark, method_name, seed, budget, params, wrap, max_steps,
                                                 wrappers)
    return RunResult([Record(k, *row) for k, row in enumerate(steps)], final, meta, method, timing)


def _run(
    benchmark: Benchmark,
    method_name: str,
    seed: int,
    budget: Budget | str,
    params: dict[str, Any] | None = None,
    wrap: Wrapper | None = None,
    max_steps: int = 1_000_000,
    wrappers: tuple[str, ...] = (),
) -> tuple[list[_Step], dict[str, Any], dict[str, Any], Method, dict[str, Any], Resolved]:
    """:func:`run_search` with the trajectory as tuples (a grid encodes them without Record objects), and
    the resolved method."""
    if isinstance(budget, str):
        budget = Budget.parse(budget)
    resolved = resolve_method(method_name, params)
    m_rng, b_rng = seed_streams(seed)
    benchmark.reset()
    method = make_method(method_name, benchmark.space, m_rng, **(params or {}))
    method = apply_wrappers(method, benchmark, wrappers)
    if wrap is not None:
        method = wrap(method, benchmark.space, m_rng)
    t0, c0 = time.perf_counter(), time.process_time()
    steps = _search(benchmark, method, budget, b_rng, max_steps)
    if not steps:
        raise ValueError(f"budget {budget} allowed no evaluation; give a larger budget")
    found = method.recommend()
    final = {"final_arch": benchmark.space.to_str(found)}
    final.update({f"final_{k}": v for k, v in benchmark.final(found).items()})
    from nasrepro.bench.provenance import code_version

    meta = {
        "format": FORMAT_VERSION,
        "method": method_name,
        "base_method": resolved.base,
        "params": _jsonable(resolved.params),
        "wrappers": [[n, _jsonable(o)] for n, o in map(resolve_wrapper, wrappers)],
        "seed": seed,
        "budget": str(budget),
        "space": benchmark.space.name,
        **benchmark.describe(),
        "code": code_version(),
    }
    timing: dict[str, Any] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    ledger = benchmark.ledger()
    if ledger:
        timing["ledger"] = ledger
    return steps, final, meta, method, timing, resolved


_Step = tuple[str, float, float, float, str, float, dict[str, Any]]
"""A trajectory line as :func:`_search` makes it: the fields of :class:`Record` after ``step``."""


def _search(benchmark: Benchmark, method: Method, budget: Budget, b_rng: np.random.Generator,
            max_steps: int) -> list[_Step]:
    """The ask / check / query / tell loop of :func:`run_search` (the tabular grid's hot path: 50,000
    evaluations of 500 runs take as long as the rest of the command together)."""
    space = benchmark.space
    check, query, to_str = space.check, benchmark.query, space.to_str
    ask, tell, done, hints, step_info = method.ask, method.tell, method.done, method.hints, method.step_info
    exhausted, isfinite = budget.exhausted, math.isfinite
    steps: list[_Step] = []
    append = steps.append
    cum = 0.0
    best_arch: Arch | None = None
    best_score = -math.inf
    best_str = ""
    strs: dict[Arch, str] = {}  # to_str is a pure function of the (checked) cell: once per cell and run
    n = 0
    while not exhausted(n, cum) and n < max_steps:
        if n and done():
            break
        arch = check(ask())
        obs = query(arch, b_rng)
        cost = obs.cost_s
        if not (isfinite(cost) and cost >= 0):
            raise ValueError(f"benchmark returned cost {cost} for {arch}: costs must be finite and >= 0")
        tell(arch, obs)
        announced = hints()
        if announced:
            benchmark.announce(announced)
        cum += cost
        score = obs.score
        text = strs.get(arch)
        if text is None:
            text = strs[arch] = to_str(arch)
        if score > best_score:
            best_arch, best_score, best_str = arch, score, text
        assert best_arch is not None
        append((text, float(score), float(cost), cum, best_str, float(best_score), {**obs.info, **step_info()}))
        n += 1
    return steps


# ---------------------------------------------------------------------------- identity


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


_DIR_FINGERPRINT_FILES = 10_000


def _dir_fingerprint(path: Path) -> str:
    """Content fingerprint of a folder (its files' relative names and fingerprints); a folder of more
    than 10,000 files (an image data set) is identified by its resolved path and file count instead."""
    files = []
    for f in path.rglob("*"):
        if f.is_file() and not f.name.startswith("."):
            files.append(f)
            if len(files) > _DIR_FINGERPRINT_FILES:
                return f"path:{path.resolve()} (over {_DIR_FINGERPRINT_FILES:,} files, not fingerprinted)"
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(path)).encode())
        h.update(file_fingerprint(f).encode())
    return "sha256:" + h.hexdigest()[:16]


def identity(value: Any) -> Any:
    """A setting as it identifies a run: a path to an existing file or folder becomes the content
    fingerprint (so the same file under another path, or a moved results folder, is the same run)."""
    if isinstance(value, dict):
        return {k: identity(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [identity(v) for v in value]
    if isinstance(value, Path) or (isinstance(value, str) and ("/" in value or "." in value)
                                   and value not in (".", "..", "")):
        p = Path(value).expanduser()
        try:
            if p.is_file():
                return {"file": file_fingerprint(p)}
            if p.is_dir():
                return {"folder": _dir_fingerprint(p)}
        except OSError:
            pass
    return value


@dataclass(frozen=True)
class RunSpec:
    """A picklable description of one run of a grid."""

    bench: str
    method: str  # a registered method or a named variant (see methods.base.register_variant)
    seed: int
    budget: str
    bench_options: tuple[tuple[str, Any], ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    tag: str = ""  # folder name of the runs (default: the method, plus its wrappers)
    group: str = ""  # optional sub-folder (e.g. the dataset) for grids over several benchmarks
    wrappers: tuple[str, ...] = ()  # wrapper specs, innermost first, e.g. ("warmup:n=1000,proxy=params",)

    @property
    def label(self) -> str:
        if self.tag:
            return self.tag
        parts = [self.method]
        for w in self.wrappers:
            name, _, opts = w.partition(":")
            shown = ",".join(o for o in opts.split(",") if o and not o.startswith("scores="))
            parts.append(f"{name}({shown})" if shown else name)
        return "+".join(parts)

    def path(self, out_dir: Path) -> Path:
        return Path(out_dir, self.group, self.label, f"seed{self.seed}.jsonl")


def ledger_path(path: Path) -> Path:
    """The measured-timing file beside a trajectory (``seed3.jsonl`` -> ``seed3.ledger.json``)."""
    return path.with_name(path.name[: -len(".jsonl")] + ".ledger.json")


@lru_cache(maxsize=8)
def _cached_benchmark(bench: str, options: tuple[tuple[str, Any], ...]) -> Benchmark:
    # One table per worker process, shared by all of its runs.
    return make_benchmark(bench, **dict(options))


def _bench_sources(spec: RunSpec) -> dict[str, Any]:
    """The data a benchmark reads beyond its options (a table found through NASREPRO_DATA, the
    embedded default), by content; benchmarks without such data report none."""
    bench = _cached_benchmark(spec.bench, spec.bench_options)
    cached = getattr(bench, "_runner_sources", None)  # a benchmark's data do not change under it
    if cached is None:
        sources = getattr(bench, "sources", None)
        cached = dict(sources()) if callable(sources) else {}
        try:
            bench._runner_sources = cached  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - a benchmark with __slots__
            pass
    return dict(cached)


def _options_identity(spec: RunSpec) -> dict[str, Any]:
    """The benchmark options as they identify a run; an option the benchmark names in ``state_options``
    (a folder the run writes, e.g. a weight pool emptied at the start of each run) is identified by
    being set, not by its path or its content, which the run itself changes."""
    from nasrepro.bench.registry import state_options

    state = state_options(spec.bench, dict(spec.bench_options))
    return {k: ("<run state>" if k in state else identity(v)) for k, v in sorted(dict(spec.bench_options).items())}


def settings(spec: RunSpec, resolved: Resolved | None = None) -> dict[str, Any]:
    """What must agree between a finished run's file and a request to resume it (see module doc).
    ``resolved``: ``resolve_method(spec.method, dict(spec.params))`` when the caller has it already."""
    from nasrepro.bench.provenance import package_version

    if resolved is None:
        resolved = resolve_method(spec.method, dict(spec.params))
    return _jsonable({
        "format": FORMAT_VERSION,
        "version": package_version(),
        "bench": spec.bench,
        "bench_options": _options_identity(spec),
        "data": _bench_sources(spec),
        "method": resolved.base,
        "params": identity(resolved.params),
        "wrappers": [[n, identity(o)] for n, o in map(resolve_wrapper, spec.wrappers)],
        "seed": spec.seed,
        "budget": str(Budget.parse(spec.budget)),
    })


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``'params.learning_rate: 0.5 in the file, 0.01 now'`` for the first key that differs."""
    a, b = _flatten(old), _flatten(new)
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            return f"{key}: {a.get(key, '<absent>')!r} in the file, {b.get(key, '<absent>')!r} now"
    return "none"


class StaleRunError(ValueError):
    """A finished run's file was made with other settings than the request resolves to."""


def check_existing(spec: RunSpec, out_dir: Path, redo_stale: bool = False,
                   expected: dict[str, Any] | None = None) -> bool:
    """True when ``spec``'s run is already finished. A file made with other settings is refused
    (:class:`StaleRunError`), or, with ``redo_stale``, reported as not finished (it is recomputed)."""
    path = spec.path(out_dir)
    if not path.exists():
        return False
    with open(path, encoding="utf-8") as fh:
        try:
            meta = json.loads(fh.readline())
        except ValueError:
            meta = {}
    expected = settings(spec) if expected is None else expected
    old = meta.get("settings") if isinstance(meta, dict) else None
    if old == expected:
        return True
    if redo_stale:
        return False
    diff = first_difference(old, expected) if isinstance(old, dict) else "no settings recorded"
    raise StaleRunError(
        f"{path} holds a run made with other settings ({diff}); rerun with --redo-stale to recompute "
        "it, or use another --out"
    )


def _computed(spec: RunSpec) -> tuple[dict[str, Any], list[_Step], dict[str, Any], dict[str, Any]]:
    """Run ``spec``: (meta row, steps, final row, measured timing)."""
    benchmark = _cached_benchmark(spec.bench, spec.bench_options)
    steps, final, meta, _, timing, resolved = _run(benchmark, spec.method, spec.seed, Budget.parse(spec.budget),
                                                   dict(spec.params), wrappers=spec.wrappers)
    meta = {**meta, "type": "meta", "tag": spec.label, "group": spec.group, "settings": settings(spec, resolved)}
    return meta, steps, {"type": "final", "n_evals": len(steps), "cost_s": steps[-1][3], **final}, timing


def _step_row(k: int, row: _Step) -> dict[str, Any]:
    arch, score, cost, cum, incumbent, incumbent_score, extra = row
    return {"type": "step", "step": k, "arch": arch, "score": score, "cost_s": cost, "cum_cost_s": cum,
            "incumbent": incumbent, "incumbent_score": incumbent_score, "extra": extra}


def compute(spec: RunSpec) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Worker side of a grid: run ``spec``, return (trajectory rows, measured timing); writes nothing."""
    meta, steps, last, timing = _computed(spec)
    return [meta, *(_step_row(k, row) for k, row in enumerate(steps)), last], timing


def compute_text(spec: RunSpec) -> tuple[str, dict[str, Any]]:
    """:func:`compute` with the rows already encoded: the trajectory file's text (what
    ``atomic_write_jsonl`` writes for :func:`compute`'s rows, byte for byte). A grid's workers encode,
    so the driver only writes, and a result crosses the process boundary as one string."""
    meta, steps, last, timing = _computed(spec)
    return json.dumps(meta, sort_keys=True) + "\n" + _steps_text(steps) + json.dumps(last, sort_keys=True) + "\n", timing


def _compute_texts(specs: tuple[RunSpec, ...]) -> list[tuple[str, dict[str, Any]]]:
    """A chunk of a grid's runs in one worker task (see :func:`compute_text`)."""
    return [compute_text(spec) for spec in specs]


_frepr = float.__repr__
_jstr = json.encoder.encode_basestring_ascii
_JSTR: dict[str, str] = {}  # a cell string -> its JSON form (a grid writes each one many times)


def _extra_encoder() -> Callable[[Any, int], Any] | None:
    from json.encoder import c_make_encoder, encode_basestring_ascii

    if c_make_encoder is None:  # pragma: no cover - CPython has the C encoder
        return None
    # as json.dumps(sort_keys=True) nests a dict, without the per-call encoder set-up; no circular check
    # (a circular or unencodable value raises here and the step is redone with json.dumps, which says why)
    return c_make_encoder(None, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ",
                          True, False, True)


_EXTRA = _extra_encoder()


def _steps_text(steps: list[_Step]) -> str:
    """The step lines of a trajectory file: ``json.dumps(_step_row(k, row), sort_keys=True)`` each, byte
    for byte. The usual step (finite floats, a dict of extras) is written from a template, its strings
    and extras by json's own encoders; any other goes through ``json.dumps`` (which raises what it raises)."""
    frepr, jstr, cache, enc = _frepr, _jstr, _JSTR, _EXTRA
    if len(cache) > 100_000:
        cache.clear()
    lines: list[str] = []
    append = lines.append
    for k, (arch, score, cost, cum, incumbent, incumbent_score, extra) in enumerate(steps):
        try:
            # score, cost and incumbent_score are float() of the observation's; cum is their running sum
            if not (enc is not None and cum.__class__ is float and extra.__class__ is dict
                    and (score - score) + (cost - cost) + (cum - cum) + (incumbent_score - incumbent_score) == 0.0):
                raise TypeError  # NaN, an infinity or another type: json.dumps
            a = cache.get(arch)
            if a is None:
                a = cache[arch] = jstr(arch)
            b = cache.get(incumbent)
            if b is None:
                b = cache[incumbent] = jstr(incumbent)
            append(f'{{"arch": {a}, "cost_s": {frepr(cost)}, "cum_cost_s": {frepr(cum)}, '
                   f'"extra": {"".join(enc(extra, 0))}, "incumbent": {b}, '
                   f'"incumbent_score": {frepr(incumbent_score)}, "score": {frepr(score)}, "step": {k}, '
                   '"type": "step"}\n')
            continue
        except Exception:  # noqa: BLE001 - other types, or an error json.dumps will name (below)
            pass
        append(json.dumps(_step_row(k, (arch, score, cost, cum, incumbent, incumbent_score, extra)),
                          sort_keys=True) + "\n")
    return "".join(lines)


def write_result(spec: RunSpec, out_dir: Path, rows: list[dict[str, Any]] | str, timing: dict[str, Any]) -> Path:
    """Driver side: the ledger first, then the trajectory (whose existence marks the run finished).
    ``rows``: :func:`compute`'s rows, or :func:`compute_text`'s text."""
    path = spec.path(out_dir)
    atomic_write_text(ledger_path(path), json.dumps(_jsonable(timing), sort_keys=True) + "\n", durable=False)
    if isinstance(rows, str):
        atomic_write_text(path, rows, durable=False)
    else:
        atomic_write_jsonl(path, rows, durable=False)
    return path


def execute(spec: RunSpec, out_dir: Path, redo_stale: bool = False) -> Path:
    """Run ``spec`` in this process unless its file exists; write the trajectory atomically."""
    path = spec.path(out_dir)
    if check_existing(spec, out_dir, redo_stale):
        return path
    return write_result(spec, out_dir, *compute(spec))


def pending(specs: Iterable[RunSpec], out_dir: Path | str, redo_stale: bool = False) -> list[RunSpec]:
    """The specs whose run is not finished (stale ones refused, or included with ``redo_stale``)."""
    out_dir = Path(out_dir)
    seen: dict[Path, RunSpec] = {}
    todo = []
    for s in specs:
        path = s.path(out_dir)
        if path in seen and seen[path] != s:
            raise ValueError(f"two runs of this grid would write {path}; give them distinct tags")
        if path not in seen:
            seen[path] = s
            if not check_existing(s, out_dir, redo_stale):
                todo.append(s)
    return todo


def remove_leftovers(specs: Iterable[RunSpec], out_dir: Path) -> None:
    """Delete the temporary files a killed driver left while writing these (unfinished) runs: every
    such file belongs to a run whose trajectory does not exist yet, so the rerun ends with exactly the
    files of an uninterrupted grid."""
    names: dict[Path, set[str]] = {}  # folder -> the file names whose leftovers go
    for spec in specs:
        path = spec.path(out_dir)
        names.setdefault(path.parent, set()).update((path.name, ledger_path(path).name))
    for folder, wanted in names.items():  # one listing per folder, not a glob per file (1,000 for 500 runs)
        plain = {n for n in wanted if not any(c in n for c in "*?[")}
        for name in wanted - plain:  # a name glob would read as a pattern: glob, as ever
            for tmp in folder.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)
        try:
            entries = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:  # = glob(".NAME.*.tmp") for each plain NAME: ".", NAME, ".", anything, ".tmp"
            if not (entry.startswith(".") and entry.endswith(".tmp")):
                continue
            core = entry[1:]
            dot = core.find(".")
            while dot >= 0:
                if core[:dot] in plain and len(entry) >= dot + 6:
                    (folder / entry).unlink(missing_ok=True)
                    break
                dot = core.find(".", dot + 1)


class _Chunks:
    """A grid's runs as consecutive chunks for a process pool, each of about ``target_s`` wall seconds by
    the runs measured so far (one run per chunk until some are, at most ``most``). 500 tabular runs of
    ~3 ms go 16 at a time (a pool task costs ~0.25 ms of its own); runs of a second or more go one by one,
    as before, so an interrupt drops no more than the runs in flight and the grid's end stays balanced."""

    def __init__(self, todo: list[RunSpec], target_s: float = 0.05, most: int = 16) -> None:
        self.todo, self.target_s, self.most = todo, target_s, most
        self.n, self.wall = 0, 0.0

    def note(self, timing: dict[str, Any]) -> None:
        self.n += 1
        self.wall += max(float(timing.get("wall_s", 0.0) or 0.0), 0.0)

    def __iter__(self) -> Iterator[tuple[RunSpec, ...]]:
        i = 0
        while i < len(self.todo):
            size = 1
            if self.n:
                per_run = self.wall / self.n
                size = self.most if per_run * self.most <= self.target_s else max(1, int(self.target_s / per_run))
            yield tuple(self.todo[i:i + size])
            i += size


def run_grid(
    specs: Iterable[RunSpec],
    out_dir: Path | str,
    workers: int = 1,
    progress: bool = True,
    redo_stale: bool = False,
    executor: str = "local",
    address: str | None = None,
) -> list[Path]:
    """Run every spec whose trajectory is missing; return all trajectory paths (in spec order).

    ``executor``: ``local`` (this process, or a pool of ``workers`` processes) or ``ray`` (a Ray
    cluster at ``address``). Workers return results; only this process writes files.
    """
    from nasrepro.bench.executors import PoolExecutor, make_executor
    from tqdm import tqdm

    out_dir = Path(out_dir)
    specs = list(specs)
    todo = pending(specs, out_dir, redo_stale)
    remove_leftovers(todo, out_dir)
    ex = make_executor(executor, workers=workers, address=address)  # a missing Ray fails before the bar
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc="runs", unit="run", disable=not progress)
    try:
        with ex:
            if isinstance(ex, PoolExecutor):  # quick runs go in chunks: a task's own cost paid per chunk
                chunks = _Chunks(todo)
                for chunk, results in ex.imap_unordered(_compute_texts, chunks):
                    for spec, (text, timing) in zip(chunk, results):
                        write_result(spec, out_dir, text, timing)
                        chunks.note(timing)
                        bar.update()
            else:
                for spec, (text, timing) in ex.imap_unordered(compute_text, todo):
                    write_result(spec, out_dir, text, timing)
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


def load_run_ends(path: Path | str) -> dict[str, Any]:
    """A trajectory file's meta and final lines, ``{'meta': ..., 'final': ...}``, without decoding the
    steps between them (a summary of 500 runs needs 2 of their ~100 lines each). A file whose first and
    last lines are not a run's meta and final -> ValueError, worded as :func:`load_run` words it; unlike
    :func:`load_run`, a damaged line between them goes unnoticed here."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        ends = _first_last_lines(data)
        meta, final = (json.loads(ends[0]), json.loads(ends[1])) if ends else (None, None)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read run file {path}: {err}; delete it to rerun that run") from None
    if not (isinstance(meta, dict) and isinstance(final, dict) and meta.get("type") == "meta"
            and final.get("type") == "final"):
        raise ValueError(f"{path} is not a complete nasrepro run file; delete it to rerun that run")
    return {"meta": meta, "final": final}


def _first_last_lines(data: bytes) -> tuple[bytes, bytes] | None:
    """The first and the last non-blank line of ``data`` (None without two distinct ones)."""
    start = 0
    first = b""
    while start <= len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if data[start:end].strip():
            first = data[start:end]
            break
        start = end + 1
    stop = len(data)
    while stop > start + len(first):
        cut = data.rfind(b"\n", 0, stop)
        line = data[cut + 1:stop]
        if line.strip():
            return (first, line) if cut + 1 > start else None
        stop = max(cut, 0)
    return None
