"""The ask/tell method interface and the method registry.

A method is one class in one file of ``methods/``, decorated with
``@register("name")``. Following scikit-learn, ``__init__`` only stores its
parameters; state is built lazily on the first ``ask`` (``_setup``).
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace

_REGISTRY: dict[str, type[Method]] = {}
_VARIANTS: dict[str, tuple[str, dict[str, Any], str]] = {}  # name -> (base method, params, description)
_WRAPPERS: dict[str, Callable[..., Method]] = {}
_REQUIRES: dict[str, tuple[str, ...]] = {}  # variant -> parameters a run must set


def register(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: make a method available by ``name`` (duplicates are an error)."""

    def deco(cls: type[Method]) -> type[Method]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method name {name!r} is already registered by {_REGISTRY[name].__name__}")
        _REGISTRY[name] = cls
        cls.registered_name = name
        return cls

    return deco


def register_variant(name: str, base: str, description: str = "", requires: tuple[str, ...] = (),
                     **params: Any) -> None:
    """A named variant: ``base`` with fixed ``params`` (e.g. ``ppo+critic`` = ``fnas`` with
    ``critic=True, replay=False``). Explicit parameters of a run override the variant's. ``requires``
    names parameters a run must set (a transfer variant without a source would silently be another)."""
    if name in _VARIANTS and _VARIANTS[name][:2] != (base, params):
        raise ValueError(f"method variant {name!r} is already registered")
    _VARIANTS[name] = (base, dict(params), description)
    _REQUIRES[name] = tuple(requires)


def register_wrapper(name: str) -> Callable[[Callable[..., Method]], Callable[..., Method]]:
    """Decorator for a wrapper factory ``factory(inner, benchmark, **options) -> Method``.

    A run names its wrappers as data (``--wrap warmup:n=1000,proxy=synflow,scores=PATH``); the
    factory's keyword defaults are part of the run's resolved settings.
    """

    def deco(factory: Callable[..., Method]) -> Callable[..., Method]:
        if name in _WRAPPERS and _WRAPPERS[name] is not factory:
            raise ValueError(f"wrapper name {name!r} is already registered")
        _WRAPPERS[name] = factory
        return factory

    return deco


def registry() -> dict[str, type[Method]]:
    from nasrepro.methods import _load_all

    _load_all()
    return dict(sorted(_REGISTRY.items()))


def variants() -> dict[str, tuple[str, dict[str, Any], str]]:
    registry()
    return dict(sorted(_VARIANTS.items()))


def wrappers() -> dict[str, Callable[..., Method]]:
    registry()
    return dict(sorted(_WRAPPERS.items()))


def method_names() -> list[str]:
    """Every name ``--method`` accepts: registered methods and their named variants."""
    return sorted({*registry(), *variants()})


def get_method(name: str) -> type[Method]:
    reg = registry()
    if name in _VARIANTS:
        name = _VARIANTS[name][0]
    if name not in reg:
        raise ValueError(f"unknown method {name!r}; run 'nasrepro list' to see: {', '.join(method_names())}")
    return reg[name]


def _signature_params(cls: type) -> dict[str, inspect.Parameter]:
    """Keyword parameters of ``cls.__init__`` after (space, rng), following ``**kwargs`` to the parents."""
    out: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass is Method or "__init__" not in vars(klass):
            continue
        params = list(inspect.signature(klass.__init__).parameters.values())[3:]  # self, space, rng
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                out.setdefault(p.name, p)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return out


@dataclass(frozen=True)
class Resolved:
    """A method name resolved: its registered base and every parameter, defaults included."""

    name: str
    base: str
    params: dict[str, Any]


def resolve_method(name: str, params: dict[str, Any] | None = None) -> Resolved:
    """``name`` (a method or a variant) and explicit ``params`` -> base method and full parameters.

    Unknown parameter names are an error here (before any run starts). The result is what a run's
    meta line records and what identifies it for resuming: a changed default makes an old run stale.
    """
    cls = get_method(name)
    base = _VARIANTS[name][0] if name in _VARIANTS else name
    given = {**(_VARIANTS[name][1] if name in _VARIANTS else {}), **(params or {})}
    sig = _signature_params(cls)
    unknown = sorted(set(given) - set(sig))
    if unknown:
        raise ValueError(f"method {name!r} has no parameter {unknown[0]!r}; its parameters: "
                         f"{', '.join(sig) or '(none)'}")
    full = {k: p.default for k, p in sig.items() if p.default is not inspect.Parameter.empty}
    missing = sorted(set(sig) - set(full) - set(given))
    missing += [k for k in _REQUIRES.get(name, ()) if given.get(k) in (None, "")]
    if missing:
        raise ValueError(f"method {name!r} needs parameter {missing[0]!r}: pass --set {missing[0]}=VALUE")
    full.update(given)
    return Resolved(name, base, dict(sorted(full.items())))


def make_method(name: str, space: SearchSpace, rng: np.random.Generator, **params: Any) -> Method:
    """An instance of method ``name`` (or variant). A parameter named in the class's
    :attr:`Method.data_params` and given as a string (a path, as a run's spec records it) is replaced by
    what its loader returns, so the method receives data, never a path it would open itself."""
    cls = get_method(name)
    if name in _VARIANTS:
        params = {**_VARIANTS[name][1], **params}
    params = load_data_params(cls, space, params)
    try:
        return cls(space, rng, **params)
    except TypeError as err:
        raise ValueError(f"bad parameter for method {name!r}: {err}") from None


def load_data_params(cls: type[Method], space: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every string value of a :attr:`Method.data_params` parameter loaded."""
    out = dict(params)
    for key, loader_path in getattr(cls, "data_params", {}).items():
        value = out.get(key)
        if isinstance(value, (str, os.PathLike)) and str(value):
            module, _, attr = loader_path.partition(":")
            loader = getattr(importlib.import_module(module), attr)
            out[key] = loader(str(value), space)
    return out


def parse_wrapper(text: str) -> tuple[str, dict[str, Any]]:
    """``'warmup:n=1000,proxy=synflow'`` -> ``('warmup', {'n': 1000, 'proxy': 'synflow'})``."""
    import ast

    name, _, rest = str(text).strip().partition(":")
    name = name.strip()
    reg = wrappers()
    if name not in reg:
        raise ValueError(f"unknown wrapper {name!r} in --wrap {text!r}; choose one of: {', '.join(reg) or '(none)'}")
    opts: dict[str, Any] = {}
    for item in filter(None, (i.strip() for i in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"malformed --wrap {text!r}: use NAME:KEY=VALUE,KEY=VALUE, e.g. warmup:n=1000")
        try:
            opts[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            opts[key.strip()] = value.strip()
    return name, opts


def resolve_wrapper(text: str) -> tuple[str, dict[str, Any]]:
    """A wrapper spec with every option filled in from the factory's defaults (unknown option -> error)."""
    name, opts = parse_wrapper(text)
    params = list(inspect.signature(wrappers()[name]).parameters.values())[2:]  # inner, benchmark
    known = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise ValueError(f"wrapper {name!r} has no option {unknown[0]!r}; its options: {', '.join(known)}")
    full = {k: p.default for k, p in known.items() if p.default is not inspect.Parameter.empty}
    full.update(opts)
    missing = sorted(set(known) - set(full))
    if missing:
        raise ValueError(f"wrapper {name!r} needs option {missing[0]!r}: --wrap {name}:{missing[0]}=VALUE")
    return name, dict(sorted(full.items()))


def apply_wrappers(method: Method, benchmark: Any, specs: tuple[str, ...] | list[str]) -> Method:
    """Wrap ``method`` in each wrapper of ``specs``, innermost first."""
    for text in specs:
        name, opts = resolve_wrapper(text)
        method = wrappers()[name](method, benchmark, **opts)
    return method


class Method:
    """Base class: keeps the history of told observations and recommends the best.

    The base class owns the lazy set-up (``_setup`` runs once, before the first ``ask``, ``tell`` or
    ``warm_start``; :attr:`is_setup` says whether it has) and the warm-start queue: architectures given
    to :meth:`warm_start` are asked first, in order, before ``_ask`` is called (syne-tune's
    ``points_to_evaluate``), unless the method overrides :meth:`_warm_start` to use them otherwise.
    """

    registered_name: str = ""
    data_params: ClassVar[dict[str, str]] = {}
    """Parameters that carry data: ``{name: "module:function"}``, a loader ``loader(value: str, space)``.
    :func:`make_method` replaces a string value (a path, which the runner's spec records and fingerprints)
    by the loaded data before calling the constructor."""

    def __init__(self, space: SearchSpace, rng: np.random.Generator) -> None:
        self.space = space
        self.rng = rng

    # -- lazy state ------------------------------------------------------------
    @property
    def is_setup(self) -> bool:
        """True once ``_setup`` has run (the first ``ask``, ``tell`` or ``warm_start``)."""
        return bool(self.__dict__.get("_is_setup", False))

    def _ensure_setup(self) -> None:
        if not self.__dict__.get("_is_setup", False):  # = not self.is_setup (called twice per ask)
            self.history: list[tuple[Arch, float]] = []
            self._warm_queue: list[Arch] = []
            self._setup()
            self._is_setup = True

    def _setup(self) -> None:
        """Build internal state; called once before the first ask or tell."""

    # -- the protocol ------------------------------------------------------------
    def ask(self) -> Arch:
        self._ensure_setup()
        if self._warm_queue or type(self)._pop_queued is not Method._pop_queued:  # else it gives None
            queued = self._pop_queued()
            if queued is not None:
                return queued
        return self._ask()

    def tell(self, arch: Arch, obs: Observation) -> None:
        self._ensure_setup()
        score = obs.score
        if not (math.isfinite(score) if score.__class__ is float else np.isfinite(score)):
            raise ValueError(f"non-finite score {obs.score} for {arch}: fix the benchmark or proxy")
        self.history.append((arch, float(score)))
        self._tell(arch, obs)

    def recommend(self) -> Arch:
        """The architecture the method reports: by default the best one it was told."""
        self._ensure_setup()
        if not self.history:
            raise RuntimeError("recommend() before any tell(): the budget allowed no evaluation")
        return max(self.history, key=lambda h: h[1])[0]

    @classmethod
    def applies_to(cls, space: SearchSpace) -> str | None:
        """None if this method can search ``space``, else the one-line reason it cannot (``nasrepro run``
        refuses with it; the method x benchmark matrix prints it)."""
        return None

    def done(self) -> bool:
        """True when the method has converged and asks for nothing more (the runner stops early)."""
        return False

    def hints(self) -> dict[str, Any]:
        """Announcements for the benchmark (see Benchmark.announce); none by default."""
        return {}

    def step_info(self) -> dict[str, Any]:
        """Extra facts logged with each record (e.g. spared rollouts); none by default."""
        return {}

    # -- warm start --------------------------------------------------------------
    def warm_start(self, archs: Sequence[Arch], scores: Sequence[float]) -> None:
        """Start from known architectures (best first) and their scores (e.g. a zero-cost proxy's, on
        another scale than the search signal). Default: ask ``archs`` first, in the given order (each is
        then told as usual); a method that can use them better overrides :meth:`_warm_start`."""
        archs = [tuple(int(c) for c in a) for a in archs]
        scores = [float(s) for s in scores]
        if len(archs) != len(scores):
            raise ValueError(f"warm_start: {len(archs)} architectures but {len(scores)} scores")
        self._ensure_setup()
        self._warm_start(archs, scores)

    def _warm_start(self, archs: list[Arch], scores: list[float]) -> None:
        """Hook: use the warm-start architectures; by default queue them to be asked first."""
        self._warm_queue.extend(archs)

    def _pop_queued(self) -> Arch | None:
        """The next warm-start architecture still to ask, or None (for ``propose``-like hooks)."""
        self._ensure_setup()
        return self._warm_queue.pop(0) if self._warm_queue else None

    # -- to implement ------------------------------------------------------------
    def _ask(self) -> Arch:
        raise NotImplementedError

    def _tell(self, arch: Arch, obs: Observation) -> None:
        pass
