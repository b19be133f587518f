"""One analysis module for every reproduction: runs in, tables and figures out, each with provenance.

Reproductions build :class:`bench.runner.RunSpec` lists, call ``run_grid``, then use these functions;
none has its own loop, aggregation, table writer or plot code. Report prose that cites a parameter
reads it from the runs' meta lines (:func:`run_params`), never from a constant typed into the report.

- reading: :func:`load_runs` (one row per run: meta, final, settings), :func:`step_values`;
- curves: :func:`incumbent_curve`, :func:`oracle_curve`, :func:`reported_curve`, :func:`first_hit`, :func:`top_threshold`;
- statistics: :func:`censored_quantiles` ("> cap" for runs that never got there),
  :func:`paired_difference` (mean difference with a paired bootstrap 95% interval);
- output: :func:`write_table` (Markdown, CSV, LaTeX booktabs; provenance in each),
  :func:`write_figure`, :func:`write_report`, :func:`write_results_index`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from nasrepro.bench.io import atomic_write_text
from nasrepro.bench.metrics import incumbent_curve
from nasrepro.bench.provenance import latex_comment, markdown_block, provenance, write_sidecar

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "censored_quantiles", "first_hit", "fmt_censored", "incumbent_curve", "load_runs", "oracle_curve",
    "paired_difference", "paired_median_difference", "reported_curve", "run_params", "step_values", "top_threshold", "verdict", "write_figure", "write_report",
    "write_results_index", "write_table",
]


# ----------------------------------------------------------------------------- reading


def load_runs(paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    """Each trajectory file as ``{'path', 'meta', 'steps', 'final'}`` (in the order given)."""
    from nasrepro.bench.runner import load_run

    out = []
    for p in paths:
        run = load_run(p)
        run["path"] = Path(p)
        out.append(run)
    return out


def step_values(run: dict[str, Any], key: str = "score") -> np.ndarray:
    """A per-step field of a run (``score``, ``cost_s``, ``cum_cost_s`` or a key of ``extra``)."""
    steps = run["steps"]
    if steps and key in steps[0]:
        return np.array([s[key] for s in steps], dtype=float)
    return np.array([s.get("extra", {}).get(key, np.nan) for s in steps], dtype=float)


def run_params(runs: Sequence[dict[str, Any]], tag: str | None = None) -> dict[str, Any]:
    """The resolved parameters shared by every run (of ``tag``): what a report may cite.

    A parameter that differs between the runs is returned as the sorted list of its values.
    """
    chosen = [r for r in runs if tag is None or r["meta"].get("tag") == tag]
    if not chosen:
        return {}
    keys = sorted({k for r in chosen for k in r["meta"].get("params", {})})
    out: dict[str, Any] = {}
    for k in keys:
        vals = {json.dumps(r["meta"].get("params", {}).get(k), sort_keys=True) for r in chosen}
        decoded = sorted((json.loads(v) for v in vals), key=str)
        out[k] = decoded[0] if len(decoded) == 1 else decoded
    return out


# ----------------------------------------------------------------------------- curves


def oracle_curve(archs: Sequence[str], truth: Callable[[str], float], steps: int | None = None) -> np.ndarray:
    """Running maximum of the *true* value (e.g. test accuracy) of the evaluated architectures: what
    an oracle that always picked the best so far would report (the zero-cost notebook's curve)."""
    return incumbent_curve([truth(a) for a in archs], steps)


def reported_curve(run: dict[str, Any], truth: Callable[[str], float], steps: int | None = None) -> np.ndarray:
    """The *true* value (e.g. test accuracy) of each step's incumbent, the architecture the search would
    report after n evaluations (chosen by its own signal); padded with its last value up to ``steps``.
    The truth is read here, in the analysis, never by a method."""
    vals = np.array([truth(s["incumbent"]) for s in run["steps"]], dtype=float)
    if steps is not None:
        vals = vals[:steps] if len(vals) >= steps else np.pad(vals, (0, steps - len(vals)), mode="edge")
    return vals


def top_threshold(values: Sequence[float], fraction: float) -> float:
    """The value that the top ``fraction`` of ``values`` reach (e.g. 0.001: the top 0.1%)."""
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    if not 0 < fraction <= 1 or len(v) == 0:
        raise ValueError(f"top fraction must be in (0, 1] of a non-empty set, got {fraction}")
    k = max(1, int(np.ceil(fraction * len(v))))
    return float(v[k - 1])


def first_hit(values: Sequence[float], threshold: float) -> float:
    """1-based count of evaluations until the first value >= ``threshold``; ``inf`` if never."""
    hit = np.flatnonzero(np.asarray(values, dtype=float) >= threshold)
    return float(hit[0] + 1) if len(hit) else float("inf")


# ----------------------------------------------------------------------------- statistics


def censored_quantiles(values: Sequence[float], qs: Sequence[float] = (0.25, 0.5, 0.75)) -> list[float]:
    """Quantiles where ``inf`` marks a censored run (never got there): a quantile that falls among
    the censored runs is ``inf`` (shown as "> cap"), never a number made up for them."""
    v = np.sort(np.asarray(values, dtype=float))
    if len(v) == 0:
        return [float("nan")] * len(qs)
    out = []
    for q in qs:
        pos = q * (len(v) - 1)
        lo, hi = int(np.floor(pos)), int(np.ceil(pos))
        a, b = v[lo], v[hi]
        out.append(float("inf") if not (np.isfinite(a) and np.isfinite(b)) else float(a + (b - a) * (pos - lo)))
    return out


def fmt_censored(x: float, cap: int | float, digits: int = 0) -> str:
    if not np.isfinite(x):
        return f">{cap:g}" if np.isposinf(x) else "n/a"
    return f"{x:.{digits}f}"


def paired_difference(
    a: Sequence[float], b: Sequence[float], seed: int = 0, n_boot: int = 10_000, level: float = 0.95
) -> dict[str, float]:
    """Mean of ``a - b`` over pairs (seeds) with a percentile bootstrap interval over the pairs.

    Returns ``{'diff', 'ci_low', 'ci_high', 'n'}``; with fewer than two pairs the interval is NaN.
    A difference is *claimed* only when the interval excludes 0 (:func:`verdict`).
    """
    x = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    x = x[np.isfinite(x)]
    out = {"diff": float(x.mean()) if len(x) else float("nan"), "ci_low": float("nan"),
           "ci_high": float("nan"), "n": float(len(x))}
    if len(x) >= 2:
        rng = np.random.default_rng(seed)
        boots = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
        out["ci_low"], out["ci_high"] = (float(np.quantile(boots, (1 - level) / 2)),
                                        float(np.quantile(boots, 1 - (1 - level) / 2)))
    return out


def _censored_median_rows(x: np.ndarray) -> np.ndarray:
    """Median of each row of ``x`` as :func:`censored_quantiles` computes it (inf when it falls among
    censored runs)."""
    s = np.sort(x, axis=1)
    pos = 0.5 * (x.shape[1] - 1)
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    a, b = s[:, lo], s[:, hi]
    with np.errstate(invalid="ignore"):
        mid = a + (b - a) * (pos - lo)
    return np.where(np.isfinite(a) & np.isfinite(b), mid, np.inf)


def paired_median_difference(
    a: Sequence[float], b: Sequence[float], seed: int = 0, n_boot: int = 10_000, level: float = 0.95
) -> dict[str, float]:
    """Difference of the medians of ``a`` and ``b`` (paired by position, e.g. seed), with ``inf`` for a
    censored run, and a paired percentile-bootstrap interval (seeds resampled together).

    Returns ``{'diff', 'ci_low', 'ci_high', 'n'}`` like :func:`paired_difference`. A median among the
    censored runs is ``inf``, so a difference can be ``+-inf``; where a resample has both medians
    censored the difference is undefined and the interval is NaN (never a number made up for them).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired_median_difference: {len(x)} and {len(y)} values are not paired")
    out = {"diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": float(len(x))}
    if len(x) == 0:
        return out
    with np.errstate(invalid="ignore"):
        out["diff"] = float(_censored_median_rows(x[None])[0] - _censored_median_rows(y[None])[0])
        if len(x) >= 2:
            idx = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))
            d = _censored_median_rows(x[idx]) - _censored_median_rows(y[idx])
            if not np.isnan(d).any():
                d.sort()
                k = int(np.floor((1 - level) / 2 * n_boot))
                out["ci_low"], out["ci_high"] = float(d[k]), float(d[n_boot - 1 - k])
    return out


def paired_difference_crossed(
    a: np.ndarray, b: np.ndarray, seed: int = 0, n_boot: int = 4000, level: float = 0.95, scale: float = 1.0
) -> dict[str, float]:
    """Mean of ``a - b`` over a pairs x items grid (e.g. seeds x test images: per-image correctness of
    two methods' final architectures) with a bootstrap interval that resamples pairs *and* items.

    Seeds and images are crossed (every seed is scored on the same images), so each replicate draws
    rows and columns independently and takes the mean of that sub-grid: the interval covers both the
    search's seed-to-seed spread and the finite test set. ``scale`` multiplies the result (100: points).
    Returns the keys of :func:`paired_difference` (``n`` = pairs); one pair gives an interval over items.
    """
    d = (np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) * scale
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"paired_difference_crossed needs a non-empty pairs x items grid, got shape {d.shape}")
    n_p, n_i = d.shape
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for lo in range(0, n_boot, 500):  # 500 replicates' weights at a time
        m = min(500, n_boot - lo)
        wp = rng.multinomial(n_p, np.full(n_p, 1 / n_p), size=m).astype(float)
        wi = rng.multinomial(n_i, np.full(n_i, 1 / n_i), size=m).astype(float)
        boots[lo:lo + m] = np.einsum("bp,pi,bi->b", wp, d, wi) / (n_p * n_i)
    q = (1 - level) / 2
    return {"diff": float(d.mean()), "ci_low": float(np.quantile(boots, q)),
            "ci_high": float(np.quantile(boots, 1 - q)), "n": float(n_p)}


def verdict(diff: dict[str, float], unit: str = "pt", digits: int = 2) -> str:
    """``'+0.36 pt [-0.21, +0.90]: not distinguishable from 0'`` and the like."""
    d, lo, hi = diff["diff"], diff["ci_low"], diff["ci_high"]
    text = f"{d:+.{digits}f} {unit} [{lo:+.{digits}f}, {hi:+.{digits}f}]"
    if np.isnan(lo) or np.isnan(hi):  # an infinite bound (censored runs) is still a bound
        return f"{d:+.{digits}f} {unit} (no interval: too few pairs, or censored on both sides)"
    if lo > 0:
        return text + ": higher"
    if hi < 0:
        return text + ": lower"
    return text + ": not distinguishable from 0"


# ----------------------------------------------------------------------------- output


def _booktabs(df: pd.DataFrame, caption: str = "") -> str:
    cols = list(df.columns)

    def esc(s: object) -> str:
        return (str(s).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")
                .replace("#", r"\#").replace(">", r"$>$"))

    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{esc(caption)}}}")
    lines += [r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule", " & ".join(map(esc, cols)) + r" \\",
              r"\midrule"]
    lines += [" & ".join(esc(v) for v in row) + r" \\" for row in df.astype(object).itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def markdown_table(df: pd.DataFrame, floatfmt: str = ".2f") -> str:
    try:
        return df.to_markdown(index=False, floatfmt=floatfmt)
    except ImportError:  # tabulate missing: a plain pipe table
        head = "| " + " | ".join(map(str, df.columns)) + " |"
        sep = "|" + "---|" * len(df.columns)
        rows = ["| " + " | ".join(map(str, r)) + " |" for r in df.astype(object).itertuples(index=False)]
        return "\n".join([head, sep, *rows])


def write_table(
    df: pd.DataFrame,
    stem: Path | str,
    prov: dict[str, Any] | None = None,
    title: str = "",
    notes: Sequence[str] = (),
    formats: Sequence[str] = ("md", "csv", "tex"),
    floatfmt: str = ".2f",
) -> dict[str, Path]:
    """``stem.md`` (title, table, notes, provenance block), ``stem.csv`` (plain, loads with
    ``pandas.read_csv``; provenance in ``stem.csv.provenance.json``) and ``stem.tex`` (booktabs)."""
    prov = prov or provenance()
    stem = Path(stem)
    out: dict[str, Path] = {}
    if "md" in formats:
        parts = [f"# {title}\n" if title else "", markdown_table(df, floatfmt), ""]
        parts += [f"- {n}" if n and not n.startswith(("-", "#", "|", ">", "!")) else n for n in notes]
        md = "\n".join(parts).rstrip() + "\n" + markdown_block(prov)
        atomic_write_text(out.setdefault("md", stem.with_suffix(".md")), md)
    if "csv" in formats:
        path = out.setdefault("csv", stem.with_suffix(".csv"))
        atomic_write_text(path, df.to_csv(index=False))
        write_sidecar(path, prov)
    if "tex" in formats:
        atomic_write_text(out.setdefault("tex", stem.with_suffix(".tex")), latex_comment(prov) + _booktabs(df, title))
    return out


def write_figure(fig: Any, path: Path | str, prov: dict[str, Any] | None = None) -> Path:
    """Save a matplotlib figure as PNG (atomic) with its provenance in ``PATH.provenance.json``."""
    from nasrepro.bench.plots import save_figure

    save_figure(fig, path)
    write_sidecar(path, prov or provenance())
    return Path(path)


def write_report(path: Path | str, sections: Sequence[str], prov: dict[str, Any] | None = None) -> Path:
    """A Markdown report: the sections joined, then the provenance block."""
    text = "\n\n".join(s.strip() for s in sections if s and s.strip()) + "\n" + markdown_block(prov or provenance())
    atomic_write_text(path, text)
    return Path(path)


def write_results_index(results: Path | str = "results") -> Path:
    """``results/README.md``: every Markdown table under ``results/`` with the command, commit and date
    of its provenance block (generated; run after a reproduction writes)."""
    import re

    root = Path(results)
    rows = []
    for md in sorted(root.rglob("*.md")):
        if md.name == "README.md" or any(p in ("runs", "cache", "tmp", "demo") for p in md.relative_to(root).parts):
            continue
        text = md.read_text(encoding="utf-8", errors="replace")
        title = next((ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("#")), md.stem)

        def field(name: str, text: str = text) -> str:
            m = re.search(rf"^- {name}: (.*)$", text, flags=re.M)
            return m.group(1).strip() if m else ""

        version = re.search(r"^- nasrepro (\S+), commit (\S+)", text, flags=re.M)
        rows.append((str(md.relative_to(root)), title.replace("|", "/"), field("command") or "(no provenance)",
                     version.group(2) if version else "", field("date")))
    lines = ["# Results", "", "Generated by `nasrepro index` from the provenance block of each table.", "",
             "| file | what | command | commit | date |", "|---|---|---|---|---|"]
    lines += [f"| [{f}]({f}) | {t} | {c} | {v} | {d} |" for f, t, c, v, d in rows]
    path = root / "README.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
