"""REINFORCE, as the NB201 baseline (AutoDL-Projects ``exps/NAS-Bench-201-algos/reinforce.py``).

Semantics followed (read from the reference code and its scripts):

- the policy is one categorical distribution per decision (NB201: 6 edges x 5 ops), logits
  initialised to ``1e-3 * N(0, 1)``; an architecture is one independent draw per decision;
- Adam on the logits, torch's defaults (betas 0.9/0.999, eps 1e-8), ``learning_rate=0.01``.
  The sources disagree: NB201's docs show ``REINFORCE.sh 0.5 -1`` (an older two-argument form
  of the script), the script's own comment ``0.001``, ``hps/GRID-RL.sh`` sweeps 0.01-0.5, and
  NATS-Bench's ``exps/NATS-algos/run-all.sh`` (same author and code) uses ``0.01``. Measured on
  the shared NB201 CSV (CIFAR-10, 12,000 s, 12-epoch signal, 200 runs each), final test accuracy
  0.001: 93.77 +- 0.30, 0.01: 93.81 +- 0.29, 0.02: 93.88 +- 0.25, 0.1: 93.98 +- 0.34,
  0.2: 93.81 +- 0.48, 0.5: 93.19 +- 0.92, against the published 93.85 +- 0.37: 0.5 is far
  off (the policy collapses in a few steps), so we take NATS-Bench's 0.01;
- baseline: exponential moving average of the reward with ``ema_momentum=0.9``, in the
  reference's bias-corrected form (numerator / denominator), updated with the new reward
  *before* the advantage ``reward - baseline`` is formed;
- one policy-gradient step per evaluated architecture, loss ``-log p(arch) * advantage``;
  the reward is the score as told (validation accuracy in percent for NB201);
- the recommended architecture is the best by score among all evaluated (``max(trace)``).

Implemented in numpy (a 6x5 policy does not need torch; the policy and the Adam step are
:mod:`methods._policy`'s, shared with PPO and BP); the rng is the method's generator.
Under a constraint (``space.is_valid``) the policy draws again until the draw is valid; after
``max_resample`` invalid draws it samples the policy restricted to valid architectures by
importance resampling of ``max_resample`` uniform valid ones.
"""

from __future__ import annotations

import numpy as np
from nasrepro.bench.core import Arch, Observation, SearchSpace
from nasrepro.methods._policy import CategoricalPolicy
from nasrepro.methods.base import Method, register


@register("reinforce")
class Reinforce(Method):
    """Categorical policy per decision, Adam, moving-average baseline, one update per sample."""

    def __init__(
        self,
        space: SearchSpace,
        rng: np.random.Generator,
        learning_rate: float = 0.01,
        ema_momentum: float = 0.9,
        max_resample: int = 1_000,
    ) -> None:
        super().__init__(space, rng)
        self.learning_rate = learning_rate
        self.ema_momentum = ema_momentum
        self.max_resample = max_resample

    def _setup(self) -> None:
        if not self.learning_rate > 0 or not 0 <= self.ema_momentum < 1:
            raise ValueError(
                f"reinforce needs learning_rate > 0 and 0 <= ema_momentum < 1, got "
                f"{self.learning_rate} and {self.ema_momentum}"
            )
        logits = np.concatenate([1e-3 * self.rng.standard_normal(n) for n in self.space.choices])
        self.policy = CategoricalPolicy(self.space.choices, self.learning_rate, logits)
        self._ema_num = 0.0
        self._ema_den = 0.0

    # -- policy ------------------------------------------------------------------------
    def probs(self) -> list[np.ndarray]:
        """Current policy: one probability vector per decision."""
        self._ensure_setup()
        return self.policy.probs()

    def _draw(self, k: int = 1) -> list[Arch]:
        """``k`` independent valid draws from the policy (inverse CDF, one uniform per decision)."""
        out: list[Arch] = []
        for _ in range(self.max_resample):
            out += [a for a in self.policy.sample_many(self.rng, k - len(out)) if self.space.is_valid(a)]
            if len(out) == k:
                return out
        # The policy has drifted onto invalid architectures (it only ever sees valid ones, so a
        # negative advantage can push mass there). Sample the policy *conditioned on validity*
        # approximately: sampling-importance-resampling from uniform valid draws.
        probs = self.policy.probs()
        pool = [self.space.sample(self.rng) for _ in range(self.max_resample)]
        logp = np.array([sum(np.log(probs[i][c] + 1e-300) for i, c in enumerate(a)) for a in pool])
        w = np.exp(logp - logp.max())
        picks = self.rng.choice(len(pool), size=k - len(out), p=w / w.sum())
        return out + [pool[int(i)] for i in picks]

    def _step(self, arch: Arch, advantage: float) -> None:
        """One Adam step on ``-log p(arch) * advantage`` (torch.optim.Adam's update)."""
        self.policy.step(self.policy.grad_log_prob(arch) * advantage, maximize=True)

    # -- ask/tell ----------------------------------------------------------------------
    def _ask(self) -> Arch:
        return self._draw(1)[0]

    def _tell(self, arch: Arch, obs: Observation) -> None:
        reward = float(obs.score)
        mom = self.ema_momentum
        self._ema_num = mom * self._ema_num + (1 - mom) * reward
        self._ema_den = mom * self._ema_den + (1 - mom)
        self._step(arch, reward - self._ema_num / self._ema_den)

    # -- hooks used by the zero-cost wrappers (methods/zero_cost.py) --------------------
    def propose(self, k: int) -> list[Arch]:
        """``k`` independent draws from the current policy (the paper's RL + move(k))."""
        self._ensure_setup()
        return self._draw(k)

    def _warm_start(self, archs: list[Arch], scores: list[float], epochs: int = 20) -> None:
        """Pre-train the policy towards the proxy's top pool, at no training cost.

        ``epochs`` passes over ``archs`` in a random order, each a policy-gradient step with
        advantage +1, i.e. a maximum-likelihood step towards that architecture (the fixed point
        is the pool's per-decision option frequencies; 20 passes over a pool of 64 at lr 0.01 get
        most of the way). The reward baseline is untouched: proxy scores are on another scale
        than validation accuracy.
        """
        for _ in range(epochs):
            for i in self.rng.permutation(len(archs)):
                self._step(archs[int(i)], 1.0)
