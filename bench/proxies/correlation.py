"""Rank correlation of proxy scores with accuracy, and the three-proxy vote of the reference notebook."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.metrics import kendall, spearman, top_k_precision


def vote_agreement(
    scores: Sequence[Sequence[float]], acc: Sequence[float], block: int = 512
) -> tuple[float, int, int]:
    """The "vote" of SamsungLabs/zero-cost-nas ``notebooks/nasbench201_correlations.ipynb``.

    Over all ordered pairs (i, j), i != j, with ``acc[i] != acc[j]`` (accuracy ties skipped): the vote
    is +1 when at least half of the proxies have ``score[i] - score[j] > 0`` (a proxy tie counts as
    "not positive", as in the notebook), else -1; the pair is right when ``vote * (acc[i] - acc[j]) > 0``.
    Returns ``(right / total, n_used, n_dropped)``; architectures with a non-finite score or accuracy
    are dropped (and counted). Vectorised over blocks of ``block`` rows: memory O(block * n).
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2:
        raise ValueError("scores must be a (n_proxies, n_archs) array")
    a = np.asarray(acc, dtype=float)
    if s.shape[1] != a.shape[0]:
        raise ValueError(f"length mismatch: {s.shape[1]} scores vs {a.shape[0]} accuracies")
    ok = np.isfinite(a) & np.all(np.isfinite(s), axis=0)
    s, a = s[:, ok], a[ok]
    n = a.shape[0]
    need = s.shape[0] / 2
    right = total = 0
    for start in range(0, n, block):
        rows = slice(start, min(n, start + block))
        npos = np.zeros((rows.stop - rows.start, n), dtype=np.int16)
        for m in s:
            npos += (m[rows, None] - m[None, :]) > 0
        sign = np.where(npos >= need, 1.0, -1.0)
        da = a[rows, None] - a[None, :]
        valid = da != 0  # also removes i == j
        right += int(np.count_nonzero(((sign * da) > 0) & valid))
        total += int(np.count_nonzero(valid))
    return (right / total if total else float("nan")), n, int((~ok).sum())


def correlation_table(frame: pd.DataFrame, acc: np.ndarray, proxies: Sequence[str],
                      vote_proxies: Sequence[str] = ("synflow", "jacob_cov", "snip")) -> pd.DataFrame:
    """One row per proxy: n_archs (finite pairs used), n_dropped (NaN/inf scores dropped), signed and
    absolute Spearman and Kendall, top-10% precision (proxy's top 10% vs accuracy's top 10%, higher
    score = better); plus a ``vote`` row (pair agreement, NOT a rank correlation) when all three vote
    proxies are present."""
    rows = []
    for p in proxies:
        x = frame[p].to_numpy(dtype=float)
        finite = np.isfinite(x) & np.isfinite(acc)
        n_used = int(finite.sum())
        rho = spearman(x, acc) if n_used > 1 else float("nan")
        tau = kendall(x, acc) if n_used > 1 else float("nan")
        rows.append({
            "proxy": p, "n_archs": n_used, "n_dropped": int(len(x) - n_used),
            "spearman": rho, "abs_spearman": abs(rho), "kendall": tau, "abs_kendall": abs(tau),
            "top10_precision": top_k_precision(x, acc, 0.10) if n_used > 1 else float("nan"),
            "vote_agreement": float("nan"),
        })
    if all(p in proxies for p in vote_proxies):
        frac, n_used, dropped = vote_agreement([frame[p].to_numpy(dtype=float) for p in vote_proxies], acc)
        rows.append({
            "proxy": "vote", "n_archs": n_used, "n_dropped": dropped,
            "spearman": float("nan"), "abs_spearman": float("nan"), "kendall": float("nan"), "abs_kendall": float("nan"),
            "top10_precision": float("nan"), "vote_agreement": frac,
        })
    return pd.DataFrame(rows)
