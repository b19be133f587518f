"""Predictor-based search ("BP" in the zero-cost paper; BRP-NAS, Dudziak et al. 2020, style).

BRP-NAS trains a *binary relation predictor* -- a GCN over a pair of cells that outputs the
probability that the first is better -- on the models trained so far, ranks candidate models
with it, and trains the top ones. This is a documented, CPU-fast equivalent:

- predictor: an MLP ``g`` (one hidden ReLU layer, ``hidden`` units) on the space's one-hot
  encoding; the binary relation is ``P(a better than b) = sigmoid(g(a) - g(b))`` (antisymmetric by
  construction, so the pairwise predictions are consistent and ranking a set needs one pass);
- loss: the pairwise logistic (RankNet) loss over pairs of trained models with different
  scores (at most ``max_pairs`` pairs per step, drawn at random), plus L2 ``weight_decay``;
  Adam (:mod:`methods._policy`'s, torch's update), ``train_steps`` steps after every ``retrain_every`` new results (BRP-NAS trains in
  iterations of several models), continuing from the previous weights;
- search: the first ``n_init`` asks are uniformly random (distinct); afterwards each ask ranks
  ``n_candidates`` valid candidates (all valid architectures when the space has at most that
  many, so on NB201 with 15,625 the whole space, as BRP-NAS ranks the whole benchmark) and asks
  the best-ranked one not yet trained;
- ``warm_start(archs, scores)`` (the zero-cost warmup, as the BRP-NAS/eagle code's
  "foresight warmup"): pre-train ``g`` for ``pretrain_steps`` steps on the proxy scores of the
  given architectures, then skip the random ``n_init`` phase;
- recommended: the best trained architecture by score (the base class's rule).

All randomness (weights, pair sampling, candidates) comes from the method's ``rng``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace
from nasrepro.methods._policy import Adam
from nasrepro.methods.base import Method, register

_ENUMERATE_LIMIT = 100_000


def _one_blas_thread() -> AbstractContextManager[object]:
    """Small matrices: multi-threaded BLAS only adds overhead (25x slower on a busy 2-core
    machine, measured) and may change the summation order; one thread keeps runs identical."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


@register("bp")
class BinaryPredictorSearch(Method):
    """Pairwise-ranking MLP predictor; asks the best-ranked untrained candidate."""

    conformance_params = {"n_candidates": 300, "train_steps": 10}

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        n_init: int = 10,
        n_candidates: int = 2000,
        hidden: int = 64,
        train_steps: int = 20,
        pretrain_steps: int = 300,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        max_pairs: int = 4096,
        retrain_every: int = 1,
    ) -> None:
        super().__init__(space, rng)
        self.n_init = n_init
        self.n_candidates = n_candidates
        self.hidden = hidden
        self.train_steps = train_steps
        self.pretrain_steps = pretrain_steps
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_pairs = max_pairs
        self.retrain_every = retrain_every

    # -- state -------------------------------------------------------------------------
    def _setup(self) -> None:
        if min(self.n_init, self.n_candidates, self.hidden, self.retrain_every) < 1:
            raise ValueError("bp needs n_init, n_candidates, hidden and retrain_every >= 1")
        self._offsets = np.concatenate([[0], np.cumsum(self.space.choices)[:-1]]).astype(int)
        dim = int(sum(self.space.choices))
        h = int(self.hidden)
        self._params = {
            "W1": self.rng.normal(0.0, np.sqrt(2.0 / dim), (dim, h)),
            "b1": np.zeros(h),
            "w2": self.rng.normal(0.0, np.sqrt(1.0 / h), h),
        }
        self._opt = Adam(self._params, float(self.lr))
        self._trained: set[Arch] = set()
        self._X: list[np.ndarray] = []
        self._y: list[float] = []
        self._stale = 0  # results told since the last training
        self._order: list[Arch] = []  # candidates ranked by the last predictor, best first
        self._warm = False
        self._all: np.ndarray | None = None
        self._all_X: np.ndarray | None = None
        if self.space.size <= min(self.n_candidates, _ENUMERATE_LIMIT):
            every = self.space.enumerate(limit=_ENUMERATE_LIMIT)
            self._all = np.asarray(every, dtype=np.int64).reshape(len(every), len(self.space.choices))
            self._all_X = self._encode(self._all).astype(np.float32)

    # -- predictor ---------------------------------------------------------------------
    def _encode(self, archs: np.ndarray) -> np.ndarray:
        if type(self.space).encode is SearchSpace.encode:
            X = np.zeros((len(archs), int(sum(self.space.choices))))
            X[np.arange(len(archs))[:, None], archs + self._offsets[None, :]] = 1.0
            return X
        return np.stack([self.space.encode(tuple(int(c) for c in a)) for a in archs]).astype(float)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted ranking score g(x) for encoded architectures (higher: predicted better).

        In float32 (4x faster for ranking the whole NB201 space); training stays in float64."""
        p = self._params
        X = X.astype(np.float32, copy=False)
        hid = np.maximum(X @ p["W1"].astype(np.float32) + p["b1"].astype(np.float32), 0.0)
        return hid @ p["w2"].astype(np.float32)

    def _pairs(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(y)
        if n * (n - 1) // 2 <= self.max_pairs:
            i, j = np.triu_indices(n, 1)
        else:
            i = self.rng.integers(n, size=self.max_pairs)
            j = self.rng.integers(n, size=self.max_pairs)
        keep = y[i] != y[j]
        i, j = i[keep], j[keep]
        swap = y[i] < y[j]  # orient each pair winner-first
        return np.where(swap, j, i), np.where(swap, i, j)

    def _train(self, X: np.ndarray, y: np.ndarray, steps: int) -> None:
        for _ in range(steps):
            win, lose = self._pairs(y)
            if len(win) == 0:
                return
            if 2 * len(win) >= len(y):  # few architectures: forward them all
                idx, inv = np.arange(len(y)), np.concatenate([win, lose])
            else:
                idx, inv = np.unique(np.concatenate([win, lose]), return_inverse=True)
            Xs = X[idx]
            p = self._params
            pre = Xs @ p["W1"] + p["b1"]
            hid = np.maximum(pre, 0.0)
            g = hid @ p["w2"]
            w_loc, l_loc = inv[: len(win)], inv[len(win):]
            d = g[w_loc] - g[l_loc]
            coef = -1.0 / (1.0 + np.exp(np.clip(d, -50, 50))) / len(win)  # d softplus(-d) / d d, averaged
            dg = np.bincount(w_loc, coef, len(idx)) - np.bincount(l_loc, coef, len(idx))
            dpre = (dg[:, None] * p["w2"][None, :]) * (pre > 0)
            grads = {
                "w2": hid.T @ dg + self.weight_decay * p["w2"],
                "W1": Xs.T @ dpre + self.weight_decay * p["W1"],
                "b1": dpre.sum(0),
            }
            self._opt.step(grads)

    # -- candidates ----------------------------------------------------------------------
    def _candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """Candidate architectures and their encodings."""
        if self._all is not None and self._all_X is not None:
            return self._all, self._all_X
        highs = np.asarray(self.space.choices)
        A = self.rng.integers(0, highs, size=(int(self.n_candidates), len(highs)))
        ok = np.fromiter((self.space.is_valid(tuple(int(c) for c in a)) for a in A), bool, len(A))
        return A[ok], self._encode(A[ok])

    def _ranked_untrained(self, k: int) -> list[Arch]:
        if self._stale >= self.retrain_every or not self._order:
            self._rank()
        out: list[Arch] = []
        for arch in self._order:
            if arch not in self._trained and arch not in out:
                out.append(arch)
                if len(out) == k:
                    break
        if len(out) < k and len(self._order) < self._n_cands:
            self._rank(extra=k)  # the cached head ran out: rank again, deeper
            out = [a for a in self._order if a not in self._trained][:k]
        return out

    def _rank(self, extra: int = 0) -> None:
        """Retrain on new results (if any), rank the candidates, keep the head of the order."""
        A, X = self._candidates()
        self._n_cands = len(A)
        with _one_blas_thread():
            if self._stale:
                self._train(np.stack(self._X), np.asarray(self._y), int(self.train_steps))
                self._stale = 0
            pred = self.predict(X)
        # The best (retrain_every + trained + extra) are all that can be needed before the next
        # ranking: partial sort, then a stable sort of those (ties by candidate order).
        top = min(len(pred), int(self.retrain_every) + len(self._trained) + extra + 1)
        head = np.argpartition(-pred, top - 1)[:top] if top < len(pred) else np.arange(len(pred))
        order = head[np.lexsort((head, -pred[head]))]
        self._order = [tuple(int(c) for c in A[r]) for r in order]

    def _random_untrained(self) -> Arch:
        for _ in range(10_000):
            arch = self.space.sample(self.rng)
            if arch not in self._trained:
                return arch
        return self.space.sample(self.rng)  # (almost) everything trained: a repeat is unavoidable

    # -- ask/tell ------------------------------------------------------------------------
    def _ask(self) -> Arch:
        if not self._warm and len(self._y) < self.n_init:
            return self._random_untrained()
        best = self._ranked_untrained(1)
        return best[0] if best else self._random_untrained()

    def _tell(self, arch: Arch, obs: Observation) -> None:
        self._trained.add(tuple(arch))
        self._X.append(self._encode(np.asarray([arch]))[0])
        self._y.append(float(obs.score))
        self._stale += 1

    # -- hooks used by the zero-cost wrappers (methods/zero_cost.py) ------------------------
    def propose(self, k: int) -> list[Arch]:
        """The ``k`` best-ranked untrained candidates (random ones while in the ``n_init`` phase)."""
        self._ensure_setup()
        if not self._warm and len(self._y) < self.n_init:
            return [self._random_untrained() for _ in range(k)]
        return self._ranked_untrained(k) or [self._random_untrained()]

    def _warm_start(self, archs: list[Arch], scores: list[float]) -> None:
        """Pre-train the predictor on proxy scores (non-finite ones dropped), skip the random phase."""
        s = np.asarray(scores, dtype=float)
        ok = np.isfinite(s)
        if ok.sum() < 2:
            return
        A = np.asarray([a for a, k in zip(archs, ok) if k], dtype=np.int64)
        with _one_blas_thread():
            self._train(self._encode(A), s[ok], int(self.pretrain_steps))
        self._warm = True
        self._order = []
