"""``nasrepro reproduce rea-freeze``: bad input is one line; a tiny grid writes the table with provenance."""

from __future__ import annotations

import pandas as pd
import pytest
from nasrepro.reproduce.cli import main

TINY = ["--random-init", "--evals", "12", "--population", "4", "--sample", "2", "--seeds", "0", "--cost", "flops",
        "--bn-batches", "1", "--cache-mb", "64", "--device", "cpu", "--workers", "1"]


@pytest.mark.parametrize(
    "extra, needle",
    [(["--threshold", "0"], "threshold T"), (["--monitor-size", "-1"], "monitor-size f"),
     (["--population", "10,x"], "--population"), (["--population", "10,50", "--sample", "3,4,5"], "--sample"),
     (["--population", "4", "--sample", "5"], "--sample"), (["--evals", "5", "--population", "10"], "--evals"),
     (["--cache-mb", "lots"], "cache-mb"), (["--workers", "0"], "--workers")],
)
def test_bad_arguments(extra: list[str], needle: str, tmp_path, capsys) -> None:  # noqa: ANN001
    assert main(["reproduce", "rea-freeze", "--random-init", "--out", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1


def test_tiny_grid_writes_table(tmp_path) -> None:  # noqa: ANN001
    out, runs = tmp_path / "t", tmp_path / "runs"
    assert main(["reproduce", "rea-freeze", *TINY, "--out", str(out), "--runs", str(runs), "--threshold", "0.4"]) == 0
    df = pd.read_csv(out / "table.csv")
    assert list(df["method"]) == ["rea", "rea+freeze"]
    rea, frz = df.iloc[0], df.iloc[1]
    assert rea["n_evals"] == 12 and (frz["n_evals"] == 12 or str(frz["n_frozen"]) == "10")  # early: all frozen
    assert rea["freeze_events"] == "-" and rea["saving_per_eval_pct"] == 0 and rea["win0_cost_ratio"] == 1
    assert rea["cpu_saving_per_eval_pct"] == 0
    assert frz["win0_cost_ratio"] == 1  # the same first window in both runs
    if frz["freeze_events"] != "none" and frz["frozen_from_eval"] != "-":
        assert frz["flops_skipped_pct"] > 0
    text = (out / "table.md").read_text()
    assert "Provenance" in text and "rea+freeze" in text
    assert (out / "table.csv.provenance.json").is_file()
    assert (runs / "rea-P4" / "seed0.jsonl").is_file() and (runs / "rea+freeze-P4" / "seed0.jsonl").is_file()
