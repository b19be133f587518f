"""Distinguish-based importance sampling of validation images (PCF-ES, Sec. 3.4 as we read it).

Each validation image x gets an importance from how much it separates the current population:
``f(x)`` is the vector of per-sample cross-entropy losses of the first ``warmup`` evaluated subnets
(the first generation, evaluated on the whole validation set), and the proposal is
``q(x) = p(x) * ||f(x)||_2 / Z`` with ``p`` uniform (NOTES.md section 5: the paper's
``q*(x) = p(x)||f(x)||/Z``; one stored set is shared by all later subnets, its Fig. 6).

We keep the ``m = round(r * N)`` most important images (largest ``q``; ties by index; only those
are evaluated and cached for later subnets). A deterministic top-m keeps the search reproducible,
but it drops the easy images outright, so a plain (or ``p/q``-weighted) mean over the kept ones
is far off the full accuracy (-18 pt measured on mnist-small with ``p/q`` weights, and +10 pt for
the subnets the search then selects, with ``p/q`` weights on residuals). So the estimate uses the
warm-up's mean correctness ``c_bar(x)`` of each image as a control variate and weights each kept
image by ``p(x) / pi(x) = 1/N``, its Horvitz-Thompson weight (a top-m image is included with
probability ``pi = 1``):

    top1 = mean_x c_bar(x) + (1/N) * sum_{i kept} (correct_i - c_bar(x_i))

i.e. the dropped images count with the warm-up's mean correctness. The ranking of later subnets
depends only on the kept images, and the estimate stays on the full-set scale (bounded by 0-100%).
``q`` decides which images are kept; ``weights`` (``p/q``) are kept for inspection.
``r = 1.0`` means sampling is off: the plain evaluation of the whole set, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def check_sample_rate(r: object) -> float:
    try:
        value = float(r)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"--sample-rate must be a number in (0, 1], got {r!r}") from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"--sample-rate must be in (0, 1] (1.0 = off; the paper uses 0.4), got {r!r}")
    return value


def per_sample_ce(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    return F.cross_entropy(logits.float(), y.long(), reduction="none").numpy().astype(np.float64)


@dataclass(frozen=True)
class SampleSet:
    indices: np.ndarray  # kept validation indices, sorted
    weights: np.ndarray  # p_i / q_i, same order
    n_total: int
    base_kept: np.ndarray  # warm-up mean correctness of the kept images
    base_mean: float  # warm-up mean correctness over all images

    def estimate_top1(self, correct: np.ndarray) -> float:
        """Top-1 (%) from 0/1 ``correct`` per kept image (control variate + importance weights)."""
        resid = np.sum(np.asarray(correct, dtype=np.float64) - self.base_kept) / self.n_total
        return float(100.0 * (self.base_mean + resid))


def build_sample_set(losses: np.ndarray, rate: float, correct: np.ndarray | None = None) -> SampleSet:
    """``losses``, ``correct``: (subnets, N) per-sample cross-entropies and 0/1 top-1 hits of the warm-up
    subnets; returns the images to keep, their weights and the control variate."""
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 2 or losses.shape[1] == 0:
        raise ValueError("importance sampling needs a (subnets, images) loss matrix")
    if not np.all(np.isfinite(losses)):
        raise ValueError("non-finite per-sample loss while building the importance sample set")
    n = losses.shape[1]
    norm = np.linalg.norm(losses, axis=0)
    # an image every subnet classifies with zero loss separates nothing; keep a floor so q > 0 everywhere
    norm = np.maximum(norm, 1e-12 * max(norm.max(), 1e-12))
    q = norm / norm.sum()
    m = max(1, int(round(rate * n)))
    order = np.lexsort((np.arange(n), -q))  # most important first, ties by index
    idx = np.sort(order[:m])
    c_bar = np.zeros(n) if correct is None else np.asarray(correct, dtype=np.float64).mean(axis=0)
    return SampleSet(indices=idx, weights=(1.0 / n) / q[idx], n_total=n, base_kept=c_bar[idx],
                     base_mean=float(c_bar.mean()))
