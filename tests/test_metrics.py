import numpy as np
import pytest
from nasrepro.bench.metrics import (
    aggregate,
    bootstrap_ci,
    fmt_pm,
    incumbent_curve,
    incumbent_on_grid,
    kendall,
    mean_std,
    n_dropped,
    spearman,
    summarize_runs,
    top_k_precision,
)
from nasrepro.bench.runner import RunSpec, run_grid


def test_rank_correlations_match_definition():
    x = [1, 2, 3, 4, 5]
    assert spearman(x, [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert spearman(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall(x, [1, 3, 2, 4, 5]) == pytest.approx(0.8)


def test_nan_pairs_dropped_and_counted():
    x = [1, 2, np.nan, 4, 5]
    y = [1, 2, 3, np.inf, 5]
    assert n_dropped(x, y) == 2
    assert spearman(x, y) == pytest.approx(1.0)


def test_top_k_precision():
    score = np.arange(100.0)
    assert top_k_precision(score, score, 0.1) == 1.0
    assert top_k_precision(score, -score, 0.1) == 0.0


def test_incumbents():
    assert list(incumbent_curve([1, 3, 2, 5], steps=6)) == [1, 3, 3, 5, 5, 5]
    got = incumbent_on_grid([1, 2, 4], [5, 3, 9], [0.5, 1, 3, 10])
    assert np.isnan(got[0]) and list(got[1:]) == [5, 5, 9]


def test_mean_std_ddof0_and_format():
    assert mean_std([1, 3]) == (2.0, 1.0)
    assert fmt_pm(93.7, 0.36) == "93.70±0.36"
    assert fmt_pm(float("nan"), 0) == "n/a"


def test_bootstrap_ci_contains_mean():
    v = np.random.default_rng(0).normal(5, 1, 200)
    lo, hi = bootstrap_ci(v, np.random.default_rng(1))
    assert lo < v.mean() < hi


def test_summary_and_aggregate(tmp_path):
    specs = [RunSpec("toy", "random", s, "5evals") for s in range(4)]
    df = summarize_runs(run_grid(specs, tmp_path, progress=False))
    assert list(df["seed"]) == [0, 1, 2, 3] and (df["n_evals"] == 5).all()
    agg = aggregate(df)
    assert agg.loc[0, "runs"] == 4
    assert agg.loc[0, "final_test_acc_mean"] == pytest.approx(df["final_test_acc"].mean())
