"""The categorical policy and the Adam step shared by REINFORCE, PPO (and FNAS) and BP.

- :class:`Adam`: ``torch.optim.Adam``'s update (betas 0.9/0.999, eps 1e-8, no weight decay, no
  amsgrad) on named numpy arrays, in place, in torch's order of operations::

      m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g g
      p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

  ``maximize=True`` ascends (torch's ``maximize``: the gradient is negated first).
- :class:`CategoricalPolicy`: one independent softmax per decision (``choices[i]`` logits each), the
  logits in one flat vector; draws by inverse CDF, one uniform of the caller's generator per decision
  (so the stream of draws is fixed); analytic gradients (for a softmax ``p`` and chosen option ``a``,
  d log p_a / d z = onehot(a) - p; d H / d z = -p (log p + H)); :meth:`CategoricalPolicy.step` is one
  Adam step on the logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from nasrepro.bench.core import Arch


class Adam:
    """torch.optim.Adam's update on the arrays of ``params`` (a dict, updated in place)."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = params
        self.lr = lr
        self.b1, self.b2 = betas
        self.eps = eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads: dict[str, np.ndarray], maximize: bool = False) -> None:
        """One step with ``grads[name]`` the gradient of the loss (of the objective if ``maximize``)."""
        b1, b2 = self.b1, self.b2
        self.t += 1
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        for k, g in grads.items():
            if maximize:
                g = -g
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            denom = np.sqrt(self.v[k]) / np.sqrt(bc2) + self.eps
            self.params[k] -= (self.lr / bc1) * self.m[k] / denom


class CategoricalPolicy:
    """Independent softmax per decision, logits in one flat vector; Adam on the logits."""

    def __init__(self, choices: Sequence[int], lr: float, logits: np.ndarray | None = None) -> None:
        self.choices = tuple(int(n) for n in choices)
        self.offsets = np.concatenate([[0], np.cumsum(self.choices)]).astype(int)
        size = int(self.offsets[-1])
        self.logits = np.zeros(size) if logits is None else np.array(logits, dtype=float).reshape(size)
        self.opt = Adam({"logits": self.logits}, lr)
        self._probs: list[np.ndarray] | None = None

    @property
    def lr(self) -> float:
        return self.opt.lr

    def set_logits(self, logits: np.ndarray) -> None:
        """Overwrite the logits (flat, or one row per decision of equal sizes)."""
        self.logits[:] = np.asarray(logits, dtype=float).reshape(self.logits.shape)
        self._probs = None

    def segments(self) -> list[np.ndarray]:
        """The logits of each decision (views into the flat vector)."""
        return [self.logits[self.offsets[i] : self.offsets[i + 1]] for i in range(len(self.choices))]

    def probs(self) -> list[np.ndarray]:
        if self._probs is not None:
            return self._probs
        out = []
        for z in self.segments():
            e = np.exp(z - z.max())
            out.append(e / e.sum())
        self._probs = out
        return out

    # -- draws --------------------------------------------------------------------------
    def sample_many(self, rng: np.random.Generator, n: int) -> list[Arch]:
        """``n`` independent draws: inverse CDF, one uniform per decision (row-major from ``rng``)."""
        u = rng.random((n, len(self.choices)))
        cdfs = [np.cumsum(p) for p in self.probs()]
        cols = [np.minimum(np.searchsorted(c, u[:, d] * c[-1], side="right"), len(c) - 1)
                for d, c in enumerate(cdfs)]
        return [tuple(int(x) for x in row) for row in zip(*cols)]

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_many(rng, 1)[0]

    # -- log-probabilities and gradients --------------------------------------------------
    def log_prob(self, arch: Arch) -> float:
        return float(sum(np.log(p[a]) for p, a in zip(self.probs(), arch)))

    def flat_index(self, archs: Sequence[Arch]) -> np.ndarray:
        """(n, n_decisions) indices of the chosen options into the flat logits."""
        return np.asarray(archs, dtype=int).reshape(len(archs), len(self.choices)) + self.offsets[:-1][None, :]

    def log_probs(self, idx: np.ndarray) -> np.ndarray:
        """Log-probs of many archs; ``idx``: :meth:`flat_index` of them."""
        logp = np.concatenate([np.log(p) for p in self.probs()])
        return logp[idx].sum(axis=1)

    def grad_log_prob(self, arch: Arch) -> np.ndarray:
        """d log p(arch) / d logits = onehot(arch) - p (flat)."""
        onehot = np.zeros_like(self.logits)
        onehot[self.offsets[:-1] + np.asarray(arch, dtype=int)] = 1.0
        return onehot - np.concatenate(self.probs())

    def entropy_and_grad(self) -> tuple[float, np.ndarray]:
        grad = np.zeros_like(self.logits)
        total = 0.0
        for i, p in enumerate(self.probs()):
            logp = np.log(np.maximum(p, 1e-300))
            h = float(-(p * logp).sum())
            total += h
            grad[self.offsets[i] : self.offsets[i + 1]] = -p * (logp + h)
        return total, grad

    # -- learning -----------------------------------------------------------------------
    def step(self, grad: np.ndarray, maximize: bool = True) -> None:
        """One Adam step on the logits; ``grad`` of the objective (``maximize``) or of a loss."""
        self.opt.step({"logits": grad}, maximize=maximize)
        self._probs = None
