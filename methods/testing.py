"""Conformance suite that every registered search method must pass (in the spirit of Optuna's
sampler test suite). It needs no data: a tiny synthetic benchmark stands in for a real one.

Use::

    from nasrepro.methods.testing import check_method
    check_method("rea")                      # raises AssertionError naming the failed check

or, in pytest, parametrise over :data:`CHECKS` and :func:`methods.registry` (see
``tests/test_methods_conformance.py``, which covers every registered method automatically).

Checks (each a function ``check_<name>(case)`` in :data:`CHECKS`):

- ``init_stores_params``: scikit-learn's rule: after ``__init__`` the instance attributes are
  exactly the constructor's parameters plus ``space`` and ``rng``, holding the values given;
- ``init_inert``: and ``__init__`` does nothing else: it draws nothing from ``rng``, coerces
  nothing (each stored attribute *is* the object given: every parameter, defaults included, is
  passed as a fresh object such as ``np.int64(4)`` for ``4``, so ``int(x)`` or ``float(x)`` shows),
  and touches no file (``open``, ``Path.open``, ``os.stat``, ``os.listdir`` and ``os.scandir``
  raise during construction); checks and loading belong in ``_setup``, data comes through
  :attr:`~methods.base.Method.data_params`;
- ``valid_archs``: every ``ask`` returns a tuple of Python ints that is valid in the space;
- ``recommend_told``: ``recommend()`` is an architecture that was told, also after one tell;
- ``deterministic``: the same seed gives the same trajectory, whatever the global random state
  (``random``, ``numpy.random``, ``torch``) is;
- ``deterministic_other_process``: and the same trajectory in another Python process started
  with a different ``PYTHONHASHSEED`` (catches set/dict-order and hash-seeded randomness);
- ``no_test_access``: the benchmark's ``final`` raises while the search runs, and no
  :class:`~bench.core.Benchmark` is reachable from the method object afterwards;
- ``constrained_space``: on the same space with an added constraint (about 40% of the
  architectures invalid), every ask is valid;
- ``tell_unasked``: ``tell`` of a valid architecture that was not asked (before the first ask and
  between ask/tell pairs: a warm start's or a wrapper's result) is accepted, and the method goes on
  asking valid architectures;
- ``params_round_trip``: the resolved parameters (:func:`methods.base.resolve_method`: defaults
  included, as a run's meta line records them) survive a JSON round trip unchanged, and passed back
  as explicit parameters they give the same trajectory as the defaults;
- ``budget_runner``: through :func:`bench.runner.run_search`, an evaluation budget gives exactly
  that many evaluations, a time budget stops at the first evaluation that reaches it, and every
  record (including ``step_info``) is JSON-serialisable.

Hooks for methods that need extra context (class attributes of the method):

- ``conformance_space: str`` -- the space to test on instead of the default synthetic one:
  ``"module:function"`` naming a zero-argument factory that returns a
  :class:`~bench.core.SearchSpace` (for example a supernet space with its FLOPs rule), or one of
  the built-in names in :data:`SPACES`. It must be importable in a fresh process.
- ``conformance_params: dict`` -- constructor parameters for the suite (e.g. a smaller batch so
  that 30 evaluations exercise several updates); the suite's runs are short.

A method whose ``ask`` must see ``tell`` in between (all of ours) is driven strictly
ask, tell, ask, tell, ... as the runner does.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import gc
import importlib
import inspect
import io
import json
import os
import pathlib
import random
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from nasrepro.bench.core import Arch, Benchmark, Observation, SearchSpace
from nasrepro.methods.base import Method, get_method, make_method, resolve_method

N_EVALS = 30
Wrap = Callable[[Method, SearchSpace, np.random.Generator], Method]


# --------------------------------------------------------------------------- spaces


class SyntheticSpace(SearchSpace):
    """Independent categorical decisions, no constraint (NB201's shape by default)."""

    def __init__(self, choices: tuple[int, ...] = (5,) * 6, name: str = "synthetic") -> None:
        self.choices = tuple(int(c) for c in choices)
        self.name = name


class ConstrainedSpace(SearchSpace):
    """``base`` plus a budget-like constraint: sum of (choice / options) <= ``max_fraction`` of the
    decisions. The base's own constraint still applies; other attributes are the base's."""

    def __init__(self, base: SearchSpace, max_fraction: float = 0.45) -> None:
        self.base = base
        self.choices = tuple(base.choices)
        self.name = f"{base.name}+constraint"
        self.max_fraction = max_fraction

    def is_valid(self, arch: Arch) -> bool:
        if not self.base.is_valid(arch):
            return False
        load = sum(c / max(n - 1, 1) for c, n in zip(arch, self.choices))
        return load <= self.max_fraction * len(self.choices)

    def to_str(self, arch: Arch) -> str:
        return self.base.to_str(arch)

    def encode(self, arch: Arch) -> np.ndarray:
        return self.base.encode(arch)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this class lacks (space-specific helpers).
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)


SPACES: dict[str, Callable[[], SearchSpace]] = {
    "synthetic": lambda: SyntheticSpace((5,) * 6, "synthetic"),
    "synthetic-wide": lambda: SyntheticSpace((4,) * 20, "synthetic-wide"),
}


def _import(path: str) -> Any:
    module, _, attr = path.partition(":")
    if not attr:
        raise ValueError(f"expected 'module:attribute', got {path!r}")
    return getattr(importlib.import_module(module), attr)


def make_space(spec: str, constrained: bool = False) -> SearchSpace:
    """A space from a name in :data:`SPACES` or a ``module:function`` factory path."""
    space = SPACES[spec]() if spec in SPACES else _import(spec)()
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space factory {spec!r} returned {type(space).__name__}, not a SearchSpace")
    return ConstrainedSpace(space) if constrained else space


# ------------------------------------------------------------------------ benchmark


class TestAccessError(AssertionError):
    """A method (or anything but the runner, after the search) asked for test metrics."""

    __test__ = False  # not a pytest test class


class SyntheticBenchmark(Benchmark):
    """Deterministic, instant benchmark on any space: additive per-decision effects plus
    interactions of neighbouring decisions (fixed pseudo-random tables, seed 20240601), so the
    landscape has structure for evolution and learning to exploit, and local optima.

    ``final`` raises :class:`TestAccessError` until :meth:`unlock` is called (the suite unlocks
    after the search and ``recommend()``). ``query`` counts calls.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, space: SearchSpace, dataset: str = "synthetic") -> None:
        self.space = space
        self.name = "synthetic"
        self.dataset = dataset
        table_rng = np.random.default_rng(20240601)
        self._main = [table_rng.normal(0.0, 1.0, n) for n in space.choices]
        self._pair = [table_rng.normal(0.0, 0.5, (a, b)) for a, b in zip(space.choices, space.choices[1:])]
        self.locked = True
        self.n_queries = 0

    def value(self, arch: Arch) -> float:
        s = sum(float(self._main[i][c]) for i, c in enumerate(arch))
        s += sum(float(self._pair[i][arch[i], arch[i + 1]]) for i in range(len(arch) - 1))
        return 70.0 + 2.0 * s / np.sqrt(len(arch))

    def query(self, arch: Arch, rng: np.random.Generator) -> Observation:
        self.n_queries += 1
        cost = 10.0 + sum(arch)
        return Observation(score=self.value(arch), cost_s=float(cost), cost_kind="train-simulated")

    def final(self, arch: Arch) -> dict[str, float]:
        if self.locked:
            raise TestAccessError("final() called during the search: only the runner may, at the end")
        return {"val_acc": self.value(arch), "test_acc": self.value(arch) - 0.3}

    def unlock(self) -> None:
        self.locked = False


def make_synthetic(dataset: str = "synthetic", space: str = "synthetic", constrained: bool = False) -> Benchmark:
    """Factory (registry style) for the synthetic benchmark on a named space."""
    return SyntheticBenchmark(make_space(space, constrained), dataset=dataset)


# ---------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One method under test: its name, the space spec, parameters and an optional wrapper."""

    name: str
    space: str = ""  # default: the method's conformance_space, else "synthetic"
    params: dict[str, Any] = field(default_factory=dict)
    n_evals: int = N_EVALS
    wrap: str | Wrap | None = None  # a wrapper, or "module:function" returning one

    def __post_init__(self) -> None:
        cls = get_method(self.name)
        if not self.space:
            self.space = getattr(cls, "conformance_space", None) or "synthetic"
        self.params = {**getattr(cls, "conformance_params", {}), **self.params}

    def build(self, space: SearchSpace, seed: int) -> Method:
        rng = np.random.default_rng(seed)
        method = make_method(self.name, space, rng, **self.params)
        wrap = _import(self.wrap)() if isinstance(self.wrap, str) else self.wrap
        return wrap(method, space, rng) if wrap is not None else method


def drive(method: Method, benchmark: Benchmark, n_evals: int, check_valid: bool = True) -> list[tuple[Arch, float]]:
    """Strict ask/tell loop, as the runner does; returns [(arch, score)]."""
    out = []
    bench_rng = np.random.default_rng(0)
    for step in range(n_evals):
        arch = method.ask()
        if check_valid:
            _assert_valid(benchmark.space, arch, step)
        obs = benchmark.query(arch, bench_rng)
        method.tell(arch, obs)
        out.append((arch, obs.score))
    return out


def _assert_valid(space: SearchSpace, arch: Any, step: int) -> None:
    assert isinstance(arch, tuple), f"ask #{step} returned {type(arch).__name__}, not a tuple"
    assert all(type(c) is int for c in arch), f"ask #{step} returned non-int choices {arch!r}"
    assert space.in_range(arch), f"ask #{step} returned {arch}, out of range {space.choices}"
    assert space.is_valid(arch), f"ask #{step} returned {arch}, which violates the space's constraint"


def trajectory(case: Case, seed: int, constrained: bool = False) -> list[list[int]]:
    space = make_space(case.space, constrained)
    method = case.build(space, seed)
    return [list(a) for a, _ in drive(method, SyntheticBenchmark(space), case.n_evals)]


# --------------------------------------------------------------------------- checks


def init_param_names(cls: type) -> set[str]:
    """Named parameters of ``cls.__init__``; with ``**kwargs``, also those of the parents'
    ``__init__`` (a subclass forwarding its parent's parameters)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def check_init_stores_params(case: Case) -> None:
    space = make_space(case.space)
    rng = np.random.default_rng(1)
    cls = get_method(case.name)
    method = cls(space, rng, **case.params)
    expected = init_param_names(cls)
    attrs = set(vars(method))
    assert attrs == expected, (
        f"{case.name}: attributes after __init__ differ from the constructor's parameters: extra "
        f"{sorted(attrs - expected)}, missing {sorted(expected - attrs)} (scikit-learn rule: store each "
        f"parameter under its own name, build state lazily in _setup)"
    )
    assert method.space is space and method.rng is rng, f"{case.name}: __init__ must store space and rng as given"
    for key, value in case.params.items():
        assert getattr(method, key) is value or getattr(method, key) == value, f"{case.name}: param {key} not stored as given"


class FileAccessError(AssertionError):
    """Raised by the file functions that :func:`no_file_access` patches."""


@contextlib.contextmanager
def no_file_access() -> Iterator[None]:
    """Make ``open``, ``Path.open``, ``os.stat``/``lstat``, ``os.listdir`` and ``os.scandir`` raise
    :class:`FileAccessError` (not an ``OSError``, so a method cannot swallow it)."""

    def refuse(name: str) -> Callable[..., Any]:
        def fn(*args: Any, **kwargs: Any) -> Any:
            raise FileAccessError(f"{name}({str(args[0]) if args else ''!r})")
        return fn

    patches = [mock.patch.object(builtins, "open", refuse("open")), mock.patch.object(io, "open", refuse("open")),
               mock.patch.object(pathlib.Path, "open", refuse("Path.open"))]
    patches += [mock.patch.object(os, name, refuse(f"os.{name}")) for name in ("stat", "lstat", "listdir", "scandir")]
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        yield


class _Str(str):
    """A string that ``str(x)`` would replace by a new plain ``str``."""


def fresh_object(value: Any) -> Any:
    """An equal value that is a new object (so storing a coerced copy is seen by ``is``): numpy
    scalars for ints, floats and bools, a ``str`` subclass for strings, shallow copies of containers."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (int, np.integer)):
        return np.int64(value)
    if isinstance(value, (float, np.floating)):
        return np.float64(value)
    if isinstance(value, str):
        return _Str(value)
    if isinstance(value, (list, dict, set, tuple)):
        return copy.copy(value)
    return value


def check_init_inert(case: Case) -> None:
    space = make_space(case.space)
    rng = np.random.default_rng(1)
    state = json.dumps(rng.bit_generator.state, sort_keys=True, default=str)
    cls = get_method(case.name)
    given = {k: fresh_object(v) for k, v in resolve_method(case.name, case.params).params.items()}
    try:
        with no_file_access():
            method = cls(space, rng, **given)
    except FileAccessError as err:
        raise AssertionError(f"{case.name}: __init__ touched a file: {err} (scikit-learn rule: only store the "
                             "parameters; load data in _setup or through the class's data_params)") from None
    after = json.dumps(rng.bit_generator.state, sort_keys=True, default=str)
    assert after == state, f"{case.name}: __init__ drew from rng; draw lazily in _setup"
    for key, value in given.items():
        stored = vars(method).get(key, None)
        assert stored is value, (
            f"{case.name}: __init__ stored parameter {key!r} as {stored!r} ({type(stored).__name__}), not the "
            f"very object given ({type(value).__name__}): store it as given, check or convert it in _setup"
        )


def check_valid_archs(case: Case) -> None:
    trajectory(case, seed=3)  # drive() asserts validity of every ask


def check_recommend_told(case: Case) -> None:
    space = make_space(case.space)
    for n in (1, case.n_evals):
        method = case.build(space, seed=5)
        told = {a for a, _ in drive(method, SyntheticBenchmark(space), n)}
        rec = method.recommend()
        assert tuple(rec) in told, f"{case.name}: recommend() returned {rec}, never told (after {n} tells)"


def _scramble_global_rngs(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def check_deterministic(case: Case) -> None:
    _scramble_global_rngs(1)
    a = trajectory(case, seed=7)
    _scramble_global_rngs(2)
    b = trajectory(case, seed=7)
    assert a == b, f"{case.name}: same seed, different trajectories (first difference at step {_first_diff(a, b)})"
    c = trajectory(case, seed=8)
    assert a != c, f"{case.name}: seeds 7 and 8 gave the same trajectory; is the rng used?"


def _first_diff(a: list, b: list) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def trajectories_in_subprocess(jobs: list[dict[str, Any]], hash_seed: int = 4321) -> list[list[list[int]]]:
    """Run ``trajectory`` for each job (``asdict(Case)`` + ``seed``) in a fresh interpreter with
    ``PYTHONHASHSEED=hash_seed``; one process for all jobs (start-up costs a second or two)."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = str(hash_seed)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(
        [sys.executable, "-c", "import nasrepro.methods.testing as t; t._subprocess_main()"],
        input=json.dumps(jobs), capture_output=True, text=True, cwd=root, env=env, timeout=600,
    )
    if proc.returncode != 0:
        raise AssertionError(f"trajectory subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _subprocess_main() -> None:
    jobs = json.loads(sys.stdin.read())
    out = []
    for job in jobs:
        seed = job.pop("seed")
        out.append(trajectory(Case(**job), seed))
    print(json.dumps(out))


def _job(case: Case, seed: int) -> dict[str, Any]:
    if case.wrap is not None and not isinstance(case.wrap, str):
        raise ValueError("the other-process check needs wrap as a 'module:function' path")
    return {**asdict(case), "seed": seed}


def check_deterministic_other_process(case: Case) -> None:
    here = trajectory(case, seed=11)
    there = trajectories_in_subprocess([_job(case, 11)])[0]
    assert here == there, (
        f"{case.name}: same seed, different trajectory in another process "
        f"(first difference at step {_first_diff(here, there)}); hash-order or global randomness?"
    )


_SKIP_TYPES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType,
               types.MethodType, types.FrameType)


def reachable_benchmarks(root: object, limit: int = 200_000) -> list[Benchmark]:
    """Benchmark instances reachable from ``root`` through object references (modules, classes and
    functions are not followed: they hold only code and globals)."""
    seen: set[int] = {id(root)}
    stack: list[object] = [root]
    found: list[Benchmark] = []
    while stack and len(seen) < limit:
        obj = stack.pop()
        for ref in gc.get_referents(obj):
            if id(ref) in seen or isinstance(ref, _SKIP_TYPES):
                continue
            seen.add(id(ref))
            if isinstance(ref, Benchmark):
                found.append(ref)
            stack.append(ref)
    return found


def check_no_test_access(case: Case) -> None:
    space = make_space(case.space)
    bench = SyntheticBenchmark(space)
    method = case.build(space, seed=13)
    try:
        drive(method, bench, case.n_evals)
        rec = method.recommend()
    except TestAccessError as err:
        raise AssertionError(f"{case.name}: read test metrics during the search: {err}") from None
    bench.unlock()
    bench.final(rec)
    held = reachable_benchmarks(method)
    assert not held, f"{case.name}: the method holds a reference to a benchmark ({type(held[0]).__name__})"


def check_constrained_space(case: Case) -> None:
    trajectory(case, seed=17, constrained=True)


def check_tell_unasked(case: Case) -> None:
    space = make_space(case.space)
    bench = SyntheticBenchmark(space)
    method = case.build(space, seed=19)
    other = np.random.default_rng(12345)
    bench_rng = np.random.default_rng(0)
    told: set[Arch] = set()

    def tell_unasked(when: str) -> None:
        arch = space.sample(other)
        try:
            method.tell(arch, bench.query(arch, bench_rng))
        except Exception as err:  # any error is the finding
            raise AssertionError(f"{case.name}: tell of a valid architecture it did not ask ({when}) raised "
                                 f"{type(err).__name__}: {err}") from None
        told.add(arch)

    tell_unasked("before the first ask")
    every = max(case.n_evals // 3, 1)
    for step in range(case.n_evals):
        try:
            arch = method.ask()
        except Exception as err:
            raise AssertionError(f"{case.name}: ask #{step} raised {type(err).__name__}: {err} after tells of "
                                 "architectures it did not ask") from None
        _assert_valid(space, arch, step)
        method.tell(arch, bench.query(arch, bench_rng))
        told.add(arch)
        if step % every == every - 1:
            tell_unasked(f"after tell #{step}")
            if step % (2 * every) == 2 * every - 1:
                tell_unasked(f"twice after tell #{step}")
    rec = tuple(method.recommend())
    assert rec in told, f"{case.name}: recommend() returned {rec}, never told"


def check_params_round_trip(case: Case) -> None:
    params = resolve_method(case.name, case.params).params
    try:
        text = json.dumps(params, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{case.name}: resolved parameters are not JSON ({err}); a run's meta line records "
                             "them: use plain numbers, strings, bools, None, lists and dicts") from None
    back = json.loads(text)
    assert back == params, f"{case.name}: resolved parameters change in a JSON round trip: {params} -> {back}"
    explicit = Case(case.name, space=case.space, params=back, n_evals=case.n_evals, wrap=case.wrap)
    a = trajectory(case, seed=23)
    b = trajectory(explicit, seed=23)
    assert a == b, (
        f"{case.name}: its resolved parameters, given explicitly, change the trajectory (first difference at "
        f"step {_first_diff(a, b)}): a default the method tells apart from the same value given?"
    )


def check_budget_runner(case: Case) -> None:
    from nasrepro.bench.runner import Budget, run_search

    space_spec = case.space
    wrap = _import(case.wrap)() if isinstance(case.wrap, str) else case.wrap
    n = min(case.n_evals, 20)
    bench = make_synthetic(space=space_spec)
    bench.unlock()  # the runner calls final() once, after the search: allowed
    res = run_search(bench, case.name, 0, Budget(evals=n), dict(case.params), wrap=wrap)
    assert len(res.records) == n, f"{case.name}: {len(res.records)} evaluations under a budget of {n}"
    json.dumps([asdict(r) for r in res.records])  # step_info and obs.info must be JSON-serialisable
    seconds = 15.0 * n / 2
    res = run_search(bench, case.name, 0, Budget(seconds=seconds), dict(case.params), wrap=wrap)
    cums = [r.cum_cost_s for r in res.records]
    assert all(c < seconds for c in cums[:-1]) and cums[-1] >= seconds, (
        f"{case.name}: time budget {seconds}s not honoured: cumulative costs {cums[-3:]}"
    )


CHECKS: dict[str, Callable[[Case], None]] = {
    "init_stores_params": check_init_stores_params,
    "valid_archs": check_valid_archs,
    "recommend_told": check_recommend_told,
    "deterministic": check_deterministic,
    "deterministic_other_process": check_deterministic_other_process,
    "no_test_access": check_no_test_access,
    "constrained_space": check_constrained_space,
    "budget_runner": check_budget_runner,
    "init_inert": check_init_inert,
    "tell_unasked": check_tell_unasked,
    "params_round_trip": check_params_round_trip,
}


def check_method(
    name: str,
    space: str = "",
    params: dict[str, Any] | None = None,
    wrap: str | Wrap | None = None,
    n_evals: int = N_EVALS,
    skip: tuple[str, ...] = (),
) -> None:
    """Run every check of :data:`CHECKS` on method ``name``; the first failure raises AssertionError."""
    case = Case(name, space=space, params=dict(params or {}), n_evals=n_evals, wrap=wrap)
    for check_name, check in CHECKS.items():
        if check_name in skip:
            continue
        if check_name in ("init_stores_params", "init_inert") and wrap is not None:
            continue  # the wrapper's own __init__ is checked separately
        if check_name == "deterministic_other_process" and wrap is not None and not isinstance(wrap, str):
            continue
        check(case)
