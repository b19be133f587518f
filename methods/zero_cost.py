"""Zero-cost warmup and move proposal (Abdelfattah et al., ICLR 2021) as wrappers for any method.

A *scorer* is any callable ``scorer(arch) -> float`` (a zero-cost proxy, higher is better); if it
also has ``seconds(arch) -> float`` (the measured proxy cost, e.g. from a cached ``scores.csv``),
that cost is summed. :class:`TableScorer` reads cached scores. Proxy calls are memoised per
architecture, counted, and reported apart from the training cost, through ``step_info`` (so the
runner logs them with every record): ``proxy_calls`` (distinct architectures scored so far),
``proxy_cost_s`` (their summed seconds) and ``proxy_nonfinite`` (scores that were NaN/inf; such
an architecture ranks below every finite score, it is never given a made-up number).

Two hooks on the inner method:

- ``warm_start(archs, scores)`` (every method has it, :meth:`methods.base.Method.warm_start`): start
  from the proxy's top architectures (best first). The base class queues them: they are asked first,
  in proxy order, then told as usual (syne-tune's ``points_to_evaluate``); random search does just
  that (the reference notebook's RAND + warmup), and so does every method without its own
  ``_warm_start`` (PPO, FNAS, SPOS-ES, ...: they must accept told architectures they did not ask, which
  the conformance suite's ``tell_unasked`` checks). Methods that override the ``_warm_start`` hook:
  aging evolution takes them as its initial population (the notebook's AE + warmup); REINFORCE
  pre-trains its policy towards them; BP pre-trains its predictor on their proxy ranks.
- ``propose(k) -> list[Arch]`` (optional; random_search, rea, reinforce and bp have it): ``k``
  candidates drawn the way the method's ``ask`` draws them, without advancing its learning (random:
  ``k`` samples, the next warm-start one first; REINFORCE: ``k`` policy draws; aging evolution: one
  tournament, then ``k`` distinct mutations of the parent, or all neighbours when ``k`` reaches their
  number, as the notebook's ``mutate_spec_zero_cost``). The method is then told whichever candidate
  was chosen. A method without the hook is refused in one line (no fallback: asking it one
  candidate and telling it another left a stateful method, PPO's batch or SPOS-ES's generation,
  waiting forever for the one it asked: 0 policy updates in 200 evaluations).

Semantics taken from SamsungLabs/zero-cost-nas ``notebooks/nas_examples.ipynb`` (the paper's own
tool is unreleased, see shared/reference/NOTES.md 1d):

- warmup: score ``n_warmup`` random cells, sort by proxy (descending), keep the top ``pool_size``
  (the notebook's ``pool_size=64``; ``None`` keeps all, which is what its random search uses). We draw
  *distinct* cells (the notebook draws with replacement), so ``n_warmup`` equal to the space size
  scores the whole space, as the paper's "warmup(15625)" label says; scoring costs no training;
- move: with probability ``p_best=0.75`` the candidate with the best proxy score (the first on
  ties), otherwise a uniformly random candidate (``random.random() > 0.75`` there).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasrepro.bench.core import Arch, Benchmark, Observation, SearchSpace
from nasrepro.methods.base import Method, register_wrapper

Scorer = Callable[[Arch], float]


class TableScorer:
    """Cached proxy scores: ``scores[arch]`` and optionally ``seconds[arch]``."""

    def __init__(self, scores: dict[Arch, float], seconds: dict[Arch, float] | None = None, name: str = "proxy"):
        self.scores = scores
        self.seconds_table = seconds or {}
        self.name = name

    def __call__(self, arch: Arch) -> float:
        try:
            return self.scores[tuple(arch)]
        except KeyError:
            raise ValueError(
                f"architecture {arch} has no cached {self.name} score; score it with 'nasrepro correlate' first"
            ) from None

    def seconds(self, arch: Arch) -> float:
        return float(self.seconds_table.get(tuple(arch), 0.0))

    @classmethod
    def from_csv(cls, path: Path | str, proxy: str, space: SearchSpace) -> TableScorer:
        """Read ``scores.csv`` (columns ``index`` or ``arch``, one column per proxy, and optionally
        ``<proxy>_s``, ``seconds_<proxy>`` or ``seconds``), as ``nasrepro correlate`` writes it
        (bench/proxies/store.py; there ``seconds`` is the time of scoring *all* its proxies for the
        cell, so the proxy cost reported is an upper bound for one proxy)."""
        import pandas as pd

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found; make one with 'nasrepro correlate --bench nb201 --archs all --out DIR'"
            )
        df = pd.read_csv(path, comment="#")  # the store's first line is a '# nasrepro-proxy-scores' header
        if proxy not in df.columns:
            raise ValueError(f"{path} has no column {proxy!r}; its proxies: {', '.join(map(str, df.columns))}")
        if "arch" in df.columns:
            archs = [space.from_str(str(s)) for s in df["arch"]]
        elif "index" in df.columns:
            from_index = getattr(space, "from_index", None)
            if from_index is None:
                raise ValueError(f"{path} identifies architectures by 'index' but space {space.name} has no index")
            archs = [from_index(int(i)) for i in df["index"]]
        else:
            raise ValueError(f"{path} needs an 'index' or 'arch' column")
        sec_col = next((c for c in (f"{proxy}_s", f"seconds_{proxy}", "seconds", "seconds_total")
                        if c in df.columns), None)
        scores = {a: float(v) for a, v in zip(archs, df[proxy])}
        seconds = {a: float(v) for a, v in zip(archs, df[sec_col])} if sec_col else None
        return cls(scores, seconds, name=proxy)


class _ProxyLedger:
    """Memoised, counted proxy calls (state of a wrapper, built lazily)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.cache: dict[Arch, float] = {}
        self.cost_s = 0.0
        self.nonfinite = 0

    def score(self, arch: Arch) -> float:
        if arch not in self.cache:
            value = float(self.scorer(arch))
            seconds = getattr(self.scorer, "seconds", None)
            self.cost_s += float(seconds(arch)) if seconds is not None else 0.0
            self.nonfinite += not math.isfinite(value)
            self.cache[arch] = value
        return self.cache[arch]

    def key(self, arch: Arch) -> float:
        """Sort key: the score, with non-finite scores below every finite one."""
        v = self.score(arch)
        return v if math.isfinite(v) else -math.inf

    def info(self) -> dict[str, Any]:
        return {"proxy_calls": len(self.cache), "proxy_cost_s": self.cost_s, "proxy_nonfinite": self.nonfinite}


class _Wrapper(Method):
    """Delegates the protocol to ``inner``; subclasses change ``ask`` or the start."""

    inner: Method

    def _tell(self, arch: Arch, obs: Observation) -> None:
        self.inner.tell(arch, obs)

    def recommend(self) -> Arch:
        return self.inner.recommend()

    def hints(self) -> dict[str, Any]:
        return self.inner.hints()

    def done(self) -> bool:
        return self.inner.done()

    def step_info(self) -> dict[str, Any]:
        self._ensure_setup()
        return {**self.inner.step_info(), **self._ledger.info()}

    def propose(self, k: int) -> list[Arch]:
        self._ensure_setup()
        return _propose(self.inner, k)

    def _warm_start(self, archs: list[Arch], scores: list[float]) -> None:
        self.inner.warm_start(archs, scores)


def _propose(inner: Method, k: int) -> list[Arch]:
    hook = getattr(inner, "propose", None)
    if hook is None:  # asking and then telling another arch leaves a stateful method waiting forever
        raise ValueError(_NO_PROPOSE.format(name=inner.registered_name or type(inner).__name__))
    return list(hook(k))


_NO_PROPOSE = ("zero-cost move needs the method's propose(k) hook (k candidates drawn as its ask draws them); "
               "{name} has none: use --wrap warmup, or one of random, rea, reinforce, bp")


class ZeroCostWarmup(_Wrapper):
    """Score ``n_warmup`` random cells with the proxy, start ``inner`` from the top ``pool_size``."""

    def __init__(self, inner: Method, scorer: Scorer, n_warmup: int, pool_size: int | None = 64) -> None:
        super().__init__(inner.space, inner.rng)
        self.inner = inner
        self.scorer = scorer
        self.n_warmup = n_warmup
        self.pool_size = pool_size

    def _setup(self) -> None:
        if int(self.n_warmup) < 1 or (self.pool_size is not None and int(self.pool_size) < 1):
            raise ValueError(f"zero-cost warmup needs n_warmup >= 1 and pool_size >= 1 or None, got "
                             f"{self.n_warmup} and {self.pool_size}")
        self._ledger = _ProxyLedger(self.scorer)
        cells = self.space.sample_distinct(int(self.n_warmup), self.rng)
        ranked = sorted(cells, key=self._ledger.key, reverse=True)  # stable: ties keep sample order
        pool = ranked if self.pool_size is None else ranked[: int(self.pool_size)]
        self.inner.warm_start(pool, [self._ledger.score(a) for a in pool])

    def _ask(self) -> Arch:
        return self.inner.ask()


class ZeroCostMove(_Wrapper):
    """Each step: ``n_candidates`` proposals of ``inner``; ask the best by proxy with
    probability ``p_best``, else a random one."""

    def __init__(self, inner: Method, scorer: Scorer, n_candidates: int = 10, p_best: float = 0.75) -> None:
        super().__init__(inner.space, inner.rng)
        self.inner = inner
        self.scorer = scorer
        self.n_candidates = n_candidates
        self.p_best = p_best

    def _setup(self) -> None:
        if int(self.n_candidates) < 1 or not 0.0 <= self.p_best <= 1.0:
            raise ValueError(f"zero-cost move needs n_candidates >= 1 and 0 <= p_best <= 1, got "
                             f"{self.n_candidates} and {self.p_best}")
        if getattr(self.inner, "propose", None) is None:
            raise ValueError(_NO_PROPOSE.format(name=self.inner.registered_name or type(self.inner).__name__))
        self._ledger = _ProxyLedger(self.scorer)

    def _ask(self) -> Arch:
        cands = _propose(self.inner, int(self.n_candidates))
        if self.rng.random() < self.p_best:
            return max(cands, key=self._ledger.key)  # first maximum on ties
        return cands[int(self.rng.integers(len(cands)))]


def warmup(scorer: Scorer, n_warmup: int, pool_size: int | None = 64) -> Callable[..., Method]:
    """A ``wrap`` for :func:`bench.runner.run_search`."""
    return lambda method, space, rng: ZeroCostWarmup(method, scorer, n_warmup, pool_size)


def move(scorer: Scorer, n_candidates: int = 10, p_best: float = 0.75) -> Callable[..., Method]:
    """A ``wrap`` for :func:`bench.runner.run_search`."""
    return lambda method, space, rng: ZeroCostMove(method, scorer, n_candidates, p_best)


# ----------------------------------------------------------------------------- wrappers as data

ANALYTIC = ("params", "flops")


class AnalyticScorer:
    """A proxy the benchmark computes without a network: ``params`` or ``flops`` (cost 0)."""

    def __init__(self, benchmark: Benchmark, proxy: str) -> None:
        self.fn = getattr(benchmark, f"{proxy}_m", None)
        if proxy not in ANALYTIC or self.fn is None:
            raise ValueError(f"benchmark {benchmark.name!r} computes no {proxy!r} proxy; give scores=PATH")
        self.name = f"{proxy} (analytic)"

    def __call__(self, arch: Arch) -> float:
        return float(self.fn(arch))

    def seconds(self, arch: Arch) -> float:
        return 0.0


@functools.lru_cache(maxsize=8)
def _table_scorer(path: str, fingerprint: str, proxy: str, space: SearchSpace) -> TableScorer:  # noqa: ARG001
    return TableScorer.from_csv(path, proxy, space)


def make_scorer(proxy: str, scores: str | None, benchmark: Benchmark) -> Scorer:
    """``scores=PATH`` (a scores.csv of 'nasrepro correlate') or, for params/flops, the benchmark's own."""
    if scores in (None, "", "analytic"):
        if proxy not in ANALYTIC:
            raise ValueError(
                f"--wrap ...proxy={proxy}: give scores=PATH, a scores.csv made by 'nasrepro correlate --archs all "
                f"--proxies {proxy}' (only {', '.join(ANALYTIC)} are computed without one)")
        return AnalyticScorer(benchmark, proxy)
    from nasrepro.bench.io import file_fingerprint

    if not Path(scores).is_file():
        raise FileNotFoundError(f"--wrap ...scores={scores}: no such file; make it with 'nasrepro correlate'")
    return _table_scorer(str(scores), file_fingerprint(scores), proxy, benchmark.space)


@register_wrapper("warmup")
def warmup_wrapper(inner: Method, benchmark: Benchmark, n: int = 1000, pool: int | None = 64,
                   proxy: str = "synflow", scores: str | None = None) -> Method:
    """Zero-cost warmup: score ``n`` distinct random cells, start from the top ``pool`` (None: all)."""
    return ZeroCostWarmup(inner, make_scorer(proxy, scores, benchmark), n, pool)


@register_wrapper("move")
def move_wrapper(inner: Method, benchmark: Benchmark, k: int = 10, p_best: float = 0.75,
                 proxy: str = "synflow", scores: str | None = None) -> Method:
    """Zero-cost move proposal: ``k`` candidates per step, the proxy's best w.p. ``p_best``."""
    return ZeroCostMove(inner, make_scorer(proxy, scores, benchmark), k, p_best)
