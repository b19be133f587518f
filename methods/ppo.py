"""PPO controller for any space of independent categorical decisions (Schulman et al. 2017, as in MNAS).

Policy: one independent softmax per decision (``space.choices[i]`` logits each), the same policy class
as our REINFORCE on NB201, so that a PPO-vs-REINFORCE comparison measures the *update rule* and not the
policy. An LSTM controller (MNAS/ENAS) would add capacity that NB201's 6 decisions and SPOS's 20 do
not need, and would make the comparison unfair.

Implementation: numpy with analytic gradients (for a softmax ``p`` and chosen option ``a``,
d log p_a / d z = onehot(a) - p; d H / d z = -p * (log p + H)), Adam ascent on the logits; the policy
and the Adam step are :mod:`methods._policy`'s, shared with REINFORCE and BP.

Update (one per batch of ``batch_size`` sampled architectures, ``epochs`` passes over it)::

    ratio_i  = pi(a_i) / pi_start(a_i)                   (pi_start: the policy when the update began)
    L        = mean_i w_i * min(ratio_i * A_i, clip(ratio_i, 1 - eps, 1 + eps) * A_i)
               + entropy_coef * sum_d H(pi_d)
    A_i      = (r_i - b) / s                              (b: moving-average baseline, decay
                                                           ``baseline_decay``; s: running RMS of r - b)

``w_i`` is 1 here; subclasses (FNAS replay) use it for an importance weight. Under a space constraint
(``space.is_valid``) an invalid sample is resampled (up to ``max_resample`` tries). Deterministic given
the ``rng``: every random draw comes from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace
from nasrepro.methods._policy import CategoricalPolicy
from nasrepro.methods.base import Method, register

__all__ = ["PPO", "CategoricalPolicy", "Item"]


@dataclass
class Item:
    """One architecture of a PPO batch."""

    arch: Arch
    logp_behaviour: float  # log-prob under the policy that sampled it
    reward: float | None = None
    spared: bool = False  # reward predicted by a critic, not measured (FNAS)
    replay: bool = False  # drawn from a replay buffer (FNAS)


@register("ppo")
class PPO(Method):
    """PPO with a clipped surrogate, entropy bonus and a moving-average baseline (see module doc)."""

    conformance_params = {"batch_size": 4, "epochs": 2}

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        batch_size: int = 10,
        epochs: int = 4,
        lr: float = 0.05,
        clip_eps: float = 0.2,
        entropy_coef: float = 0.01,
        baseline_decay: float = 0.9,
        max_resample: int = 1000,
    ) -> None:
        super().__init__(space, rng)
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr = lr
        self.clip_eps = clip_eps
        self.entropy_coef = entropy_coef
        self.baseline_decay = baseline_decay
        self.max_resample = max_resample

    # -- state -----------------------------------------------------------------------
    def _validate(self) -> None:
        """Parameter checks (run by ``_setup``: ``__init__`` only stores, scikit-learn's rule)."""
        for name in ("batch_size", "epochs", "max_resample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ppo: {name} must be an integer >= 1, got {value!r}")
        if not (0.0 < self.clip_eps < 1.0):
            raise ValueError(f"ppo: clip_eps must lie in (0, 1), got {self.clip_eps}")
        if self.lr <= 0 or self.entropy_coef < 0 or not (0.0 <= self.baseline_decay < 1.0):
            raise ValueError("ppo: need lr > 0, entropy_coef >= 0 and 0 <= baseline_decay < 1")

    def _setup(self) -> None:
        self._validate()
        self.policy = CategoricalPolicy(self.space.choices, float(self.lr))
        self.baseline: float | None = None
        self.adv_scale: float | None = None
        self.n_updates = 0
        self._batch: list[Item] = []  # the batch being filled
        self._queue: list[int] = []  # indices into _batch still to ask
        self._pending: dict[Arch, list[int]] = {}  # asked, not yet told

    def _sample_batch(self, n: int) -> list[Arch]:
        """``n`` policy samples (one vectorised draw; invalid ones are drawn again one by one)."""
        return [a if self.space.is_valid(a) else self._sample_valid() for a in self.policy.sample_many(self.rng, n)]

    def _sample_valid(self) -> Arch:
        for _ in range(self.max_resample):
            arch = self.policy.sample(self.rng)
            if self.space.is_valid(arch):
                return arch
        raise RuntimeError(
            f"ppo: no valid {self.space.name} architecture in {self.max_resample} policy samples; "
            "the constraint is too tight for the current policy"
        )

    # -- batch life cycle (hooks for subclasses) -------------------------------------
    def _fresh_count(self) -> int:
        return self.batch_size

    def _new_batch(self) -> None:
        """Sample a batch; decide which members are asked (``_screen``); update if none is."""
        for _ in range(10_000):
            archs = self._sample_batch(self._fresh_count())
            self._batch = [Item(a, self.policy.log_prob(a)) for a in archs]
            self._screen(self._batch)
            self._queue = [i for i, it in enumerate(self._batch) if it.reward is None]
            if self._queue:
                return
            self._finish_batch()  # everything spared: learn from the predictions, sample again
        raise RuntimeError("ppo: 10,000 consecutive batches needed no evaluation")

    def _screen(self, batch: list[Item]) -> None:
        """Plain PPO asks every sampled architecture."""

    def _baseline_for(self, items: list[Item]) -> float:
        rewards = np.array([it.reward for it in items if not it.replay], dtype=float)
        return float(rewards.mean()) if self.baseline is None else self.baseline

    def _after_update(self, items: list[Item]) -> None:
        rewards = np.array([it.reward for it in items if not it.replay], dtype=float)
        m = float(rewards.mean())
        d = self.baseline_decay
        self.baseline = m if self.baseline is None else d * self.baseline + (1 - d) * m

    def _extra_items(self) -> list[Item]:
        return []

    def _finish_batch(self) -> None:
        items = self._batch + self._extra_items()
        self._update(items)
        self._after_update(self._batch)
        self._batch, self._queue = [], []

    # -- the PPO step ---------------------------------------------------------------
    def _importance_weights(self, items: list[Item], logp_start: np.ndarray) -> np.ndarray:
        return np.ones(len(items))

    def _update(self, items: list[Item]) -> None:
        b = self._baseline_for(items)
        r = np.array([float(it.reward) for it in items])  # type: ignore[arg-type]
        raw = r - b
        # running RMS of the advantages: a scale that survives a batch of identical rewards
        ms = float(np.mean(raw**2))
        self.adv_scale = ms if self.adv_scale is None else 0.9 * self.adv_scale + 0.1 * ms
        adv = raw / (np.sqrt(self.adv_scale) + 1e-8)
        idx = self.policy.flat_index([it.arch for it in items])
        logp_start = self.policy.log_probs(idx)
        w = self._importance_weights(items, logp_start)
        for _ in range(self.epochs):
            _, grad = self.surrogate(idx, adv, w, logp_start)
            self.policy.step(grad, maximize=True)
        self.n_updates += 1

    def surrogate(
        self, idx: np.ndarray, adv: np.ndarray, w: np.ndarray, logp_start: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """The PPO objective (clipped surrogate + entropy bonus) at the current logits, and its gradient."""
        pol = self.policy
        ratio = np.exp(pol.log_probs(idx) - logp_start)
        clipped = np.clip(ratio, 1 - self.clip_eps, 1 + self.clip_eps)
        n = len(adv)
        ent, g_ent = pol.entropy_and_grad()
        value = float(np.sum(w * np.minimum(ratio * adv, clipped * adv)) / n) + self.entropy_coef * ent
        # the gradient of min(rA, clip(r)A) is w*r*A*dlogp where the unclipped term is the minimum
        active = ~(((adv > 0) & (ratio > 1 + self.clip_eps)) | ((adv < 0) & (ratio < 1 - self.clip_eps)))
        coef = w * adv * ratio * active / n
        grad = np.zeros_like(pol.logits)
        np.add.at(grad, idx.ravel(), np.repeat(coef, idx.shape[1]))  # d log p_a / dz = onehot(a) - p
        probs = np.concatenate(pol.probs())
        grad -= coef.sum() * probs
        return value, grad + self.entropy_coef * g_ent

    # -- ask / tell -------------------------------------------------------------------
    def _ask(self) -> Arch:
        if not self._queue:
            self._new_batch()
        i = self._queue.pop(0)
        arch = self._batch[i].arch
        self._pending.setdefault(arch, []).append(i)
        return arch

    def _tell(self, arch: Arch, obs: Observation) -> None:
        arch = tuple(int(c) for c in arch)
        slots = self._pending.get(arch)
        if slots:
            i = slots.pop(0)
            if not slots:
                del self._pending[arch]
        else:  # told an architecture we did not ask: learn from it under the current policy
            self._batch.append(Item(arch, self.policy.log_prob(arch)))
            i = len(self._batch) - 1
        self._batch[i].reward = float(obs.score)
        self._on_trained(i)
        if not self._queue and not self._pending:
            self._finish_batch()

    def _on_trained(self, i: int) -> None:
        """Hook: a measured reward arrived."""

    def hints(self) -> dict[str, Any]:
        # the index of the current batch: a weight pool snapshots itself when it changes (strict
        # fairness within a batch; see Benchmark.announce)
        return {"batch": self.n_updates} if self.is_setup else {}

    def policy_probs(self) -> list[np.ndarray]:
        """The current per-decision probabilities (for plots and tests)."""
        self._ensure_setup()
        return self.policy.probs()

    def step_info(self) -> dict[str, Any]:
        if not self.is_setup:
            return {}
        return {"ppo_updates": self.n_updates}
