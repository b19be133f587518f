"""Pure functions over results: rank correlations, incumbent curves, summaries, intervals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas and scipy load inside the functions: `nasrepro --help` must stay light
    import pandas as pd

SUMMARY_COLUMNS = [
    "method",
    "dataset",
    "seed",
    "n_evals",
    "cost_s",
    "final_arch",
    "final_val_acc",
    "final_test_acc",
]


def _finite_pairs(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray, int]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"length mismatch: {x.shape} vs {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok], int((~ok).sum())


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho over the finite pairs (NaN/inf pairs are dropped; count them with n_dropped)."""
    a, b, _ = _finite_pairs(x, y)
    from scipy import stats

    return float(stats.spearmanr(a, b).statistic) if len(a) > 1 else float("nan")


def kendall(x: Sequence[float], y: Sequence[float]) -> float:
    a, b, _ = _finite_pairs(x, y)
    from scipy import stats

    return float(stats.kendalltau(a, b).statistic) if len(a) > 1 else float("nan")


def n_dropped(x: Sequence[float], y: Sequence[float]) -> int:
    return _finite_pairs(x, y)[2]


def top_k_precision(score: Sequence[float], truth: Sequence[float], frac: float = 0.10) -> float:
    """Share of the top ``frac`` by ``score`` that is also in the top ``frac`` by ``truth``."""
    a, b, _ = _finite_pairs(score, truth)
    k = max(1, int(round(frac * len(a))))
    top_a = set(np.argsort(-a, kind="stable")[:k])
    top_b = set(np.argsort(-b, kind="stable")[:k])
    return len(top_a & top_b) / k


def incumbent_curve(values: Sequence[float], steps: int | None = None) -> np.ndarray:
    """Running maximum of ``values``, padded with its last value up to ``steps``."""
    cur = np.maximum.accumulate(np.asarray(values, dtype=float))
    if steps is not None:
        if len(cur) >= steps:
            return cur[:steps]
        cur = np.concatenate([cur, np.full(steps - len(cur), cur[-1] if len(cur) else np.nan)])
    return cur


def incumbent_on_grid(cum_cost: Sequence[float], values: Sequence[float], grid: Sequence[float]) -> np.ndarray:
    """Incumbent value at each budget point of ``grid`` (NaN before the first evaluation)."""
    cum_cost = np.asarray(cum_cost, dtype=float)
    best = incumbent_curve(values)
    idx = np.searchsorted(cum_cost, np.asarray(grid, dtype=float), side="right") - 1
    out = np.full(len(idx), np.nan)
    ok = idx >= 0
    out[ok] = best[idx[ok]]
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=0))


def bootstrap_ci(
    values: Sequence[float], rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float("nan"), float("nan")
    from scipy import stats

    res = stats.bootstrap((v,), np.mean, n_resamples=n_boot, confidence_level=level, random_state=rng,
                          method="percentile")
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _summary_row(meta: dict[str, Any], final: dict[str, Any]) -> dict[str, Any]:
    """One run's summary.csv row (accuracies in percent), from its meta and final lines."""
    row = {
        "method": meta.get("tag") or meta["method"],
        "dataset": meta.get("dataset", ""),
        "seed": meta["seed"],
        "n_evals": final["n_evals"],
        "cost_s": round(float(final["cost_s"]), 3),
    }
    row.update({k: v for k, v in final.items() if k.startswith("final_")})
    return row


def summarize_runs(paths: Sequence[Path | str]) -> pd.DataFrame:
    """One row per run file: the summary.csv schema (accuracies in percent)."""
    import pandas as pd
    from nasrepro.bench.runner import load_run

    rows: list[dict[str, Any]] = []
    for p in paths:
        run = load_run(p)
        rows.append(_summary_row(run["meta"], run["final"]))
    df = pd.DataFrame(rows)
    cols = [c for c in SUMMARY_COLUMNS if c in df.columns] + [c for c in df.columns if c not in SUMMARY_COLUMNS]
    return df[cols].sort_values(["dataset", "method", "seed"], kind="stable").reset_index(drop=True)


def summary_records(paths: Sequence[Path | str]) -> tuple[list[dict[str, Any]], list[str]]:
    """:func:`summarize_runs` without pandas: its rows as dicts, in its row order, and its columns; from
    each file's meta and final lines only (:func:`bench.runner.load_run_ends`)."""
    from nasrepro.bench.runner import load_run_ends

    rows: list[dict[str, Any]] = []
    for p in paths:
        run = load_run_ends(p)
        rows.append(_summary_row(run["meta"], run["final"]))
    seen: dict[str, None] = {}  # a DataFrame's columns: in order of appearance over the files
    for r in rows:
        seen.update(dict.fromkeys(r))
    columns = [c for c in SUMMARY_COLUMNS if c in seen] + [c for c in seen if c not in SUMMARY_COLUMNS]
    if not _plain(rows, ("dataset", "method"), ("seed",)):  # summarize_runs' order, from pandas itself
        import pandas as pd

        order = pd.DataFrame(rows).sort_values(["dataset", "method", "seed"], kind="stable").index
        return [rows[i] for i in order], columns
    return sorted(rows, key=lambda r: (r["dataset"], r["method"], r["seed"])), columns  # stable, as pandas


def _kind(values: list[Any]) -> str | None:
    """'str', 'int' or 'float' when every value is exactly of that type (a float may be NaN); None else."""
    types = {type(v) for v in values}
    if types == {str}:
        return "str"
    if types == {int} and all(-(2**63) <= v < 2**63 for v in values):
        return "int"
    if types == {float}:
        return "float"
    return None


def _plain(records: Sequence[dict[str, Any]], str_cols: Sequence[str] = (), int_cols: Sequence[str] = ()) -> bool:
    """Every row has every column, each column holds one plain type (see :func:`_kind`), and the
    named columns are strings / ints: the cases whose pandas output is written here without pandas."""
    if not records:
        return False
    keys = set(records[0])
    if any(set(r) != keys for r in records):
        return False
    kinds = {c: _kind([r[c] for r in records]) for c in keys}
    return (None not in kinds.values() and all(kinds.get(c) == "str" for c in str_cols)
            and all(kinds.get(c) == "int" for c in int_cols))


def summary_csv(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """``summary.csv``'s text for :func:`summary_records`' rows: what
    ``summarize_runs(paths).to_csv(index=False)`` writes, byte for byte. Plain rows (:func:`_plain`) are
    written with the csv module (floats as their repr, NaN as an empty field, as pandas writes a float64
    column); any other rows are handed to pandas."""
    import csv
    import io

    if not _plain(records, ("dataset", "method"), ("seed",)):
        import pandas as pd

        df = pd.DataFrame(list(records))[list(columns)]
        df = df.sort_values(["dataset", "method", "seed"], kind="stable").reset_index(drop=True)
        return df.to_csv(index=False)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if v != v else repr(v) if type(v) is float else v for v in map(r.__getitem__, columns)]
                      for r in records])
    return buf.getvalue()


def aggregate_records(records: Sequence[dict[str, Any]], columns: Sequence[str],
                      by: Sequence[str] = ("dataset", "method")) -> list[dict[str, Any]]:
    """:func:`aggregate` over :func:`summary_records`' rows, as a list of its rows (same numbers: numpy's
    sums, as pandas' ``mean``/``std`` with ``skipna=False`` compute them); irregular rows go to pandas."""
    value_cols = [c for c in ("final_val_acc", "final_test_acc", "n_evals", "cost_s") if records and c in records[0]]
    if not _plain(records, tuple(by)) or any(_kind([r[c] for r in records]) == "str" for c in value_cols):
        import pandas as pd

        agg = aggregate(pd.DataFrame(list(records))[list(columns)], by)
        return agg.to_dict("records")
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    out = []
    for key in sorted(groups):
        rows = groups[key]
        row: dict[str, Any] = dict(zip(by, key))
        row["runs"] = len(rows)
        for c in value_cols:
            v = np.array([r[c] for r in rows], dtype=np.float64)
            mean = v.sum(dtype=np.float64) / len(v)
            row[f"{c}_mean"] = float(mean)
            row[f"{c}_std"] = float(np.sqrt(((mean - v) ** 2).sum(dtype=np.float64) / len(v)))
        out.append(row)
    return out


def aggregate(summary: pd.DataFrame, by: Sequence[str] = ("dataset", "method")) -> pd.DataFrame:
    """Mean and std (ddof=0, as NB201 reports) of the final accuracies per group."""
    value_cols = [c for c in ("final_val_acc", "final_test_acc", "n_evals", "cost_s") if c in summary]
    g = summary.groupby(list(by), sort=True)[value_cols]
    # a NaN in any run makes the mean NaN (shown as n/a): never a mean over fewer runs than reported
    mean = g.agg(lambda v: v.mean(skipna=False))
    std = g.agg(lambda v: v.std(ddof=0, skipna=False))
    out = mean.add_suffix("_mean").join(std.add_suffix("_std"))
    out.insert(0, "runs", g.size())
    return out.reset_index()


def fmt_pm(mean: float, std: float, digits: int = 2) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f}±{std:.{digits}f}"
