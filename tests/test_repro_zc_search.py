"""`nasrepro reproduce zc-search`: refuses without cached scores, runs small, resumes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest

from reproduce.cli import main
from reproduce.repro_zc_search import execute, parse_scores, variants


def _args(**kw) -> argparse.Namespace:  # noqa: ANN003
    base = dict(scores=["analytic:params"], proxy="params", table=None, datasets="cifar10", methods="RS,REA,BP",
                warmups="1000", seeds="0-1", evals=20, bp_retrain=5, workers=1, name="zc")
    base.update(kw)
    return argparse.Namespace(**base)


def test_refuses_without_scores_and_names_the_command(capsys) -> None:  # noqa: ANN001
    assert main(["reproduce", "zc-search"]) == 2
    err = capsys.readouterr().err
    assert "nasrepro correlate" in err and "--archs all" in err and err.count("\n") == 1


def test_refuses_a_partial_scores_file(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    pd.DataFrame({"index": [0, 1], "synflow": [1.0, 2.0]}).to_csv(tmp_path / "scores.csv", index=False)
    with pytest.raises(ValueError, match="2 of 15,625 cells"):
        execute(_args(scores=[f"cifar10={tmp_path / 'scores.csv'}"], proxy="synflow"), tmp_path)


def test_small_run_writes_outputs_and_resumes(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("NASREPRO_DATA", raising=False)  # the embedded table
    md = execute(_args(), tmp_path)
    for ext in ("md", "csv", "png"):
        assert (tmp_path / f"zc.{ext}").stat().st_size > 0
    df = pd.read_csv(tmp_path / "zc.csv")
    assert set(df["variant"]) == {"RS", "RS+warmup(1000)", "RS+move(10)", "REA", "REA+warmup(1000)", "REA+move(24)",
                                  "BP", "BP+warmup(1000)", "BP+move(10)"}
    assert (df["seeds"] == 2).all() and df["test_mean"].between(10, 100).all()
    assert (df[df["variant"].str.contains("warmup")]["proxy_calls_mean"] == 1000).all()
    assert "params (analytic" in md
    n_files = len(list((tmp_path / "runs").rglob("*.json")))
    assert n_files == 18
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.json")}
    assert execute(_args(), tmp_path) == md  # resumed: nothing rerun, same report
    assert stamp == {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.json")}


def test_variants_and_scores_parsing() -> None:
    labels = [v.label for v in variants(("REINFORCE",), (1000, 3000, 15625))]
    assert labels == ["REINFORCE", "REINFORCE+warmup(1000)", "REINFORCE+warmup(3000)", "REINFORCE+warmup(15625)",
                      "REINFORCE+move(10)", "REINFORCE+move(100)"]
    assert parse_scores(["cifar10=a.csv", "b.csv"]) == {"cifar10": "a.csv", "cifar100": "b.csv"}
    with pytest.raises(ValueError, match="bad"):
        execute(_args(methods="RS,bad"), "/nonexistent")


def test_demo_runs_on_the_embedded_table(tmp_path: Path) -> None:
    from reproduce import repro_zc_search

    text = repro_zc_search.demo(tmp_path)
    assert text.startswith("# Zero-cost warmup") and "params" in text
    assert (tmp_path / "zc_search_demo.md").exists() and (tmp_path / "zc_search_demo.csv").exists()
