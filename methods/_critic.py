"""A small deep ensemble (Lakshminarayanan et al. 2017) of MLPs on an architecture encoding, in numpy.

``M`` one-hidden-layer ReLU MLPs, trained together (one batched set of arrays, an extra member axis),
each on its own bootstrap of the data (a Poisson(1) count per point and member, drawn once when the
point arrives, so that refits are stable) and from its own random initialisation. Prediction: the mean
and the standard deviation over members. Targets are fitted as given (callers standardise them).
Warm-started: each ``fit`` continues from the previous weights for ``steps`` Adam steps on the whole
weighted data set.
"""

from __future__ import annotations

import numpy as np


class Ensemble:
    def __init__(
        self,
        dim: int,
        rng: np.random.Generator,
        members: int = 5,
        hidden: int = 32,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
    ) -> None:
        self.rng = rng
        self.m = int(members)
        self.lr = lr
        self.wd = weight_decay
        s1, s2 = np.sqrt(2.0 / dim), np.sqrt(1.0 / hidden)
        self.params = {
            "w1": rng.normal(0, s1, (self.m, dim, hidden)),
            "b1": np.zeros((self.m, 1, hidden)),
            "w2": rng.normal(0, s2, (self.m, hidden, 1)),
            "b2": np.zeros((self.m, 1, 1)),
        }
        self._adam = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in self.params.items()}
        self._t = 0
        self.x = np.zeros((0, dim))
        self.y = np.zeros(0)
        self.w = np.zeros(0)  # per-point weight (e.g. down-weighted transferred points)
        self.counts = np.zeros((self.m, 0))  # bootstrap counts, member x point
        self.group = np.zeros(0, dtype=int)  # 0: own data, 1: transferred

    def add(self, x: np.ndarray, y: np.ndarray, group: int = 0) -> None:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        y = np.asarray(y, dtype=float).ravel()
        self.x = np.vstack([self.x, x])
        self.y = np.concatenate([self.y, y])
        self.w = np.concatenate([self.w, np.ones(len(y))])
        self.group = np.concatenate([self.group, np.full(len(y), group, dtype=int)])
        self.counts = np.hstack([self.counts, self.rng.poisson(1.0, (self.m, len(y)))])

    def set_targets(self, y: np.ndarray) -> None:
        self.y = np.asarray(y, dtype=float).ravel()

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        h = np.maximum(np.einsum("nd,mdh->mnh", x, p["w1"]) + p["b1"], 0.0)
        out = (h @ p["w2"] + p["b2"])[..., 0]  # (m, n)
        return out, h

    def fit(self, steps: int = 30) -> None:
        if len(self.y) == 0:
            return
        x, y = self.x, self.y
        wt = self.counts * self.w[None, :]  # (m, n)
        norm = np.maximum(wt.sum(axis=1, keepdims=True), 1e-8)
        p = self.params
        for _ in range(steps):
            out, h = self._forward(x)
            g_out = 2.0 * wt * (out - y[None, :]) / norm  # (m, n)
            grads = {
                "w2": np.einsum("mnh,mn->mh", h, g_out)[..., None] + self.wd * p["w2"],
                "b2": g_out.sum(axis=1)[:, None, None],
            }
            g_h = g_out[..., None] * np.transpose(p["w2"], (0, 2, 1)) * (h > 0)  # (m, n, h)
            grads["w1"] = np.einsum("nd,mnh->mdh", x, g_h) + self.wd * p["w1"]
            grads["b1"] = g_h.sum(axis=1, keepdims=True)
            self._t += 1
            for k, g in grads.items():
                m1, v1 = self._adam[k]
                m1 *= 0.9
                m1 += 0.1 * g
                v1 *= 0.999
                v1 += 0.001 * g * g
                p[k] -= self.lr * (m1 / (1 - 0.9**self._t)) / (np.sqrt(v1 / (1 - 0.999**self._t)) + 1e-8)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation over members, one each per row of ``x``."""
        out, _ = self._forward(np.atleast_2d(np.asarray(x, dtype=float)))
        return out.mean(axis=0), out.std(axis=0)
