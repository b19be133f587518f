"""Hardware-aware NB201: a latency budget as the space's constraint, latency in every record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from nasrepro.bench.paths import data_dir

pytestmark = pytest.mark.skipif(
    data_dir() is None or not (data_dir() / "nb201" / "nb201_latency_ms.csv").exists(),
    reason="needs NASREPRO_DATA with nb201/nb201_latency_ms.csv (the shared latency table)",
)


def test_latency_budget_is_the_constraint_and_every_record_carries_latency(tmp_path):
    from nasrepro.bench.nb201.benchmark import make_nb201
    from nasrepro.bench.runner import RunSpec, load_run, run_grid

    limit = 8.0
    opts = (("latency_device", "pixel3"), ("latency_limit_ms", limit))
    paths = run_grid([RunSpec("nb201", m, 0, "60evals", opts) for m in ("rea", "random", "reinforce", "bp")],
                     tmp_path, progress=False)
    csv = pd.read_csv(data_dir() / "nb201" / "nb201_latency_ms.csv").set_index("index")["pixel3"]
    bench = make_nb201(latency_device="pixel3", latency_limit_ms=limit)
    for p in paths:
        run = load_run(p)
        lats = [s["extra"]["latency_ms"] for s in run["steps"]]
        truth = [csv[bench.space.index(bench.space.from_str(s["arch"]))] for s in run["steps"]]
        assert lats == truth and max(lats) <= limit
        assert run["final"]["final_latency_ms"] <= limit
    assert bench.space.n_valid == int((csv <= limit).sum())


def test_latency_options_fail_in_one_line():
    from nasrepro.bench.nb201.benchmark import make_nb201

    with pytest.raises(ValueError, match="unknown latency_device 'nope'"):
        make_nb201(latency_device="nope")
    with pytest.raises(ValueError, match="no NB201 cell is that fast"):
        make_nb201(latency_device="raspi4", latency_limit_ms=0.0001)
    with pytest.raises(ValueError, match="needs latency_device"):
        make_nb201(latency_limit_ms=5)
    with pytest.raises(ValueError, match="positive number"):
        make_nb201(latency_device="pixel3", latency_limit_ms="fast")


def test_latency_table_values_are_validated(tmp_path):
    from nasrepro.bench.nb201.latency import load_latency

    df = pd.read_csv(data_dir() / "nb201" / "nb201_latency_ms.csv")
    df.loc[7, "pixel3"] = -1.0
    bad = tmp_path / "lat.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(ValueError, match="column pixel3, row index 7"):
        load_latency(bad)


def test_hw_search_reproduction_tiny(tmp_path):
    from nasrepro.reproduce.cli import main

    out = tmp_path / "hw"
    argv = ["reproduce", "hw-search", "--devices", "pixel3", "--quantiles", "0.5", "--seeds", "0-1",
            "--budget", "20evals", "--methods", "RS,REA,REA+warmup", "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out / "table.csv")
    assert set(table["method"]) == {"RS", "REA", "REA+warmup"} and len(table) == 6  # 1 budget + none, x3
    assert (table["within budget"] == "100%").all()
    assert np.isfinite(table["gap to feasible best (pt)"]).all() and (table["gap to feasible best (pt)"] >= 0).all()
    assert (out / "pareto.png").stat().st_size > 1000 and "- command: `" in (out / "table.md").read_text()
