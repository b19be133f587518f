"""`nasrepro reproduce spos-search` end to end on a tiny mnist-small supernet checkpoint."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from nasrepro.bench.supernet.checkpoint import save_checkpoint
from nasrepro.bench.supernet.model import ShuffleNetV2OneShot
from nasrepro.reproduce.cli import main
from nasrepro.reproduce.repro_spos_search import evolution_params


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # an untrained supernet: fast, and enough to test the plumbing (accuracies are near chance)
    path = tmp_path_factory.mktemp("sn") / "checkpoint.pt"
    save_checkpoint(path, ShuffleNetV2OneShot("mnist-small", seed=0), {"iters": 0})
    return path


def test_spos_search_writes_table_curve_and_csv(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    argv = [
        "reproduce",
        "spos-search",
        "--config",
        "mnist-small",
        "--checkpoint",
        str(ckpt),
        "--seeds",
        "0-1",
        "--evals",
        "6",
        "--population",
        "4",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    df = pd.read_csv(out / "runs.csv")
    assert sorted(df["method"]) == ["random", "random", "spos-evolution", "spos-evolution"]
    assert (df["n_evals"] == 6).all()
    assert df["final_test_acc"].between(0, 100).all()
    md = (out / "table.md").read_text()
    table = pd.read_csv(out / "table.csv").set_index("method")
    assert table.loc["SPOS evolution", "runs"] == 2 and table.loc["SPOS evolution", "evals"] == 6
    assert "paired over 2 seeds" in md
    assert "population_num=4" in md  # settings cited from the runs' meta
    assert "- command: `" in md and (out / "table.csv.provenance.json").exists()
    assert (out / "curves.png").stat().st_size > 1000
    # a rerun reuses the finished runs (files unchanged)
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.jsonl")}
    assert main(argv) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.jsonl")}


def test_spos_search_bad_input(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["reproduce", "spos-search", "--config", "mnist-small", "--out", str(tmp_path)]
    assert main([*base, "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main([*base, "--checkpoint", str(ckpt), "--seeds", "3"]) == 2
    assert "at least 2 seeds" in capsys.readouterr().err
    assert (
        main(
            [*base, "--checkpoint", str(ckpt), "--config", "cifar10-small", "--seeds", "0-1", "--evals", "2"]
        )
        == 2
    )
    assert "mnist-small" in capsys.readouterr().err  # checkpoint of another config


def test_evolution_params_scale_like_the_official_ratios() -> None:
    assert evolution_params(50) == {
        "population_num": 50,
        "select_num": 10,
        "mutation_num": 25,
        "crossover_num": 25,
    }
    with pytest.raises(ValueError, match="population"):
        evolution_params(2)
