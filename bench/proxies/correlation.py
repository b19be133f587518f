"""Rank correlation of proxy scores with accuracy, the three-proxy vote of the reference notebook, and
rank aggregation over a population of cells (AZ-NAS's non-linear aggregation, for AZ-NAS itself and for
any ``--vote`` subset; TE-NAS's sum of ranks for TE-NAS)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from nasrepro.bench.metrics import kendall, spearman, top_k_precision
from nasrepro.bench.proxies.registry import canonical
from scipy import stats

# AZ-NAS = its four parts aggregated; complexity is the FLOP count (``az_complexity`` is an alias of flops).
AZ_NAS_PARTS = ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")
# TE-NAS = minus the NTK condition number and the number of linear regions, ranks summed.
TE_NAS_PARTS = ("te_nas_ntk", "te_nas_lr")
# Aggregation rules: "log" = AZ-NAS (and --vote), "sum" = TE-NAS.
RULES = ("log", "sum")


def rank_aggregate(columns: Sequence[Sequence[float]], rule: str = "log") -> np.ndarray:
    """Rank aggregation of several proxies over a population of cells (higher score = higher rank = better).

    - ``rule="log"``: AZ-NAS's non-linear aggregation (``NB201/tss_general.ipynb``): for each proxy the rank
      of every cell (``scipy.stats.rankdata``, ties averaged), and the cell's aggregate is
      ``sum_proxies log(rank / n)``. A cell must rank high on every proxy to score high.
    - ``rule="sum"``: TE-NAS (``prune_tenas.py`` ``prune_func_rank``): the sum over proxies of the dense rank
      (ties share a rank, the next value one more: ``rankdata(method="dense")``). TENAS sorts the condition
      number ascending and the regions descending and keeps the lowest sum; with the registry's signs
      (``te_nas_ntk`` = minus the condition number) that is the highest sum here.

    NaN counts as ``-inf`` (the lowest rank), as AZ-NAS reports a NaN score; the population is the cells
    given, so the aggregate of a cell depends on which other cells are scored."""
    if rule not in RULES:
        raise ValueError(f"unknown aggregation rule {rule!r}; choose from {RULES}")
    cols = np.asarray(columns, dtype=float)
    if cols.ndim != 2 or cols.shape[1] < 1:
        raise ValueError("columns must be a (n_proxies, n_cells) array")
    n = cols.shape[1]
    cols = np.where(np.isnan(cols), -np.inf, cols)
    if rule == "sum":
        return np.sum([stats.rankdata(c, method="dense") for c in cols], axis=0).astype(float)
    return np.sum([np.log(stats.rankdata(c) / n) for c in cols], axis=0)


def aggregate_ci(columns: Sequence[Sequence[float]], acc: Sequence[float], rng: np.random.Generator,
                 n_boot: int = 1000, level: float = 0.95, rule: str = "log") -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman(rank_aggregate, acc) over cells: each resample draws
    cells with replacement and recomputes the ranks within the resample (the aggregate depends on the
    population). One column gives the interval of that proxy's own Spearman."""
    cols = np.asarray(columns, dtype=float)
    a = np.asarray(acc, dtype=float)
    keep = np.isfinite(a)
    cols, a = cols[:, keep], a[keep]
    n = a.shape[0]
    if n < 3:
        return float("nan"), float("nan")
    rhos = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        # Spearman = Pearson of the (tie-averaged) ranks; computed directly, scipy's wrapper is slower
        rx, ry = stats.rankdata(rank_aggregate(cols[:, idx], rule)), stats.rankdata(a[idx])
        with np.errstate(invalid="ignore", divide="ignore"):
            rhos[b] = np.corrcoef(rx, ry)[0, 1]
    lo, hi = np.nanpercentile(rhos, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


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
                      vote_proxies: Sequence[str] = ("synflow", "jacob_cov", "snip"),
                      votes: Sequence[Sequence[str]] = (), ci_seed: int | None = None,
                      n_boot: int = 1000) -> pd.DataFrame:
    """One row per proxy: n_archs (finite pairs used), n_dropped (NaN/inf scores dropped), signed and
    absolute Spearman and Kendall, top-10% precision (proxy's top 10% vs accuracy's top 10%, higher
    score = better); plus a ``vote`` row (pair agreement, NOT a rank correlation) when all three vote
    proxies are present; an ``az_nas`` row (AZ-NAS rank aggregation of its four parts) when they are; a
    ``te_nas`` row (TE-NAS: sum of the dense ranks of ``te_nas_ntk`` and ``te_nas_lr``) when both are; and
    one ``vote(a+b+c)`` row per subset in ``votes`` (rank aggregation, :func:`rank_aggregate`: Spearman
    and Kendall of the aggregate over all cells, NaN scores ranked lowest, plus the pair agreement of the
    majority vote of the same proxies). With ``ci_seed``, ``spearman_lo``/``spearman_hi`` give a 95%
    bootstrap interval (cells resampled; aggregates re-ranked within each resample)."""
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
    groups: list[tuple[str, list[str], str]] = []
    az = [p if p in frame.columns else canonical(p) for p in AZ_NAS_PARTS]
    if all(p in frame.columns for p in az):
        groups.append(("az_nas", az, "log"))
    if all(p in frame.columns for p in TE_NAS_PARTS):
        groups.append(("te_nas", list(TE_NAS_PARTS), "sum"))
    for subset in votes:
        subset = [p if p in frame.columns else canonical(p) for p in subset]  # az_complexity -> flops
        missing = [p for p in subset if p not in frame.columns]
        if missing:
            raise ValueError(f"--vote names {missing}, not among the scored proxies {list(proxies)}")
        groups.append((f"vote({'+'.join(subset)})", list(subset), "log"))
    for name, cols, rule in groups:
        rows.append(_aggregate_row(name, [frame[p].to_numpy(dtype=float) for p in cols], acc, rule))
    table = pd.DataFrame(rows)
    if ci_seed is not None:
        rng = np.random.default_rng(ci_seed)
        group_of = {name: (cols, rule) for name, cols, rule in groups}
        bounds = []
        for r in rows:
            if r["proxy"] in group_of:
                names, rule = group_of[r["proxy"]]
                cols = [frame[c].to_numpy(dtype=float) for c in names]
                bounds.append(aggregate_ci(cols, acc, rng, n_boot, rule=rule))
            elif r["proxy"] in proxies:  # a lone proxy: its own Spearman, non-finite cells dropped as above
                x = frame[r["proxy"]].to_numpy(dtype=float)
                ok = np.isfinite(x) & np.isfinite(acc)
                bounds.append(aggregate_ci([x[ok]], acc[ok], rng, n_boot))
            else:
                bounds.append((float("nan"), float("nan")))
        table["spearman_lo"] = [b[0] for b in bounds]
        table["spearman_hi"] = [b[1] for b in bounds]
    return table


def _aggregate_row(name: str, columns: list[np.ndarray], acc: np.ndarray, rule: str = "log") -> dict:
    agg = rank_aggregate(columns, rule)
    ok = np.isfinite(acc)
    rho = spearman(agg[ok], acc[ok])
    tau = kendall(agg[ok], acc[ok])
    frac = vote_agreement(columns, acc)[0] if len(columns) > 1 else float("nan")
    return {"proxy": name, "n_archs": int(ok.sum()), "n_dropped": 0, "spearman": rho, "abs_spearman": abs(rho),
            "kendall": tau, "abs_kendall": abs(tau), "top10_precision": top_k_precision(agg[ok], acc[ok], 0.10),
            "vote_agreement": frac}
