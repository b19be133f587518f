"""NB201 tabular benchmark: protocol (signal, cost, final), errors, cost model, registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nasrepro.bench.nb201 import costs as C
from nasrepro.bench.nb201 import space as S
from nasrepro.bench.nb201.benchmark import NB201Tabular, make_nb201
from nasrepro.bench.nb201.tables import NB201Table, load_csv
from nasrepro.bench.registry import make_benchmark
from test_nb201_tables import synthetic  # tests/ is on sys.path (rootdir import mode)


@pytest.fixture(scope="module")
def table() -> NB201Table:
    return synthetic()


@pytest.fixture(scope="module")
def csv_table(nb201_csv: Path) -> NB201Table:
    return load_csv(nb201_csv)


def test_query_final_describe_synthetic(table: NB201Table) -> None:
    bench = make_nb201("cifar100", table=table)
    rng = np.random.default_rng(1)
    arch = bench.space.sample(rng)
    obs = bench.query(arch, rng)
    assert obs.score == table.get(arch, "cifar100", "val_12")
    assert obs.cost_s == 101.0 and obs.info["cost_source"] == "table"  # recorded cost wins
    assert obs.cost_kind == "train-simulated" and "test" not in " ".join(obs.info)
    final = bench.final(arch)
    assert final["test_acc"] == table.get(arch, "cifar100", "test_200")
    assert np.isnan(final["val_acc"])  # the table has no val_200: NaN, never a stand-in number
    assert final["params_m"] == pytest.approx(S.params_m(arch, 100))
    desc = bench.describe()
    assert desc["fidelity"] == "12 epochs" and desc["signal"].startswith("val_12")
    assert "recorded" in desc["cost_model"] and desc["table_source"] == "synthetic"


def test_seed_noise_draws_recorded_trials(table: NB201Table) -> None:
    bench = make_nb201("cifar10", table=table, seed_noise=True)
    arch = S.index_to_arch(0)
    trials = set(table.seeds(arch, "cifar10").tolist())
    draws = [bench.query(arch, np.random.default_rng(s)).score for s in range(20)]
    assert set(draws) <= trials and len(set(draws)) > 1
    again = [bench.query(arch, np.random.default_rng(s)).score for s in range(20)]
    assert draws == again


def test_errors(table: NB201Table) -> None:
    with pytest.raises(ValueError, match="choose one of: cifar10, cifar100, imagenet16-120"):
        make_nb201("mnist", table=table)
    with pytest.raises(ValueError, match="has no imagenet16-120 data.*shared CSV"):
        make_nb201("ImageNet16-120", table=table)
    with pytest.raises(ValueError, match="fidelity"):
        make_nb201(table=table, fidelity="50")
    with pytest.raises(ValueError, match="no val_200"):
        make_nb201(table=table, fidelity="200")
    with pytest.raises(ValueError, match="unknown nb201 option"):
        make_nb201(table=table, budget=3)
    with pytest.raises(FileNotFoundError):
        make_nb201(table="/nonexistent/nb201.csv")
    partial = synthetic(n=10, seeds=False)
    with pytest.raises(ValueError, match="seed_noise"):
        make_nb201(table=partial, seed_noise=True)
    bench = make_nb201(table=partial)
    absent = next(a for a in range(S.N_ARCHS) if a not in set(partial.index.tolist()))
    with pytest.raises(ValueError, match="not in the table"):
        bench.query(S.index_to_arch(absent), np.random.default_rng(0))
    with pytest.raises(ValueError):
        bench.query((5, 0, 0, 0, 0, 0), np.random.default_rng(0))


def test_embedded_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    monkeypatch.setenv("NASREPRO_CACHE", str(tmp_path))
    bench = make_nb201()
    assert isinstance(bench, NB201Tabular) and bench.table.kind == "embedded-analognasbench"
    rng = np.random.default_rng(0)
    arch = bench.space.sample(rng)
    obs = bench.query(arch, rng)
    # documented: the embedded table's only accuracy serves as signal and final report
    assert obs.score == bench.final(arch)["test_acc"]
    assert obs.info["cost_source"] == "model"
    assert obs.cost_s == pytest.approx(C.FlopsCostModel("cifar10").cost_s(arch, 12))
    desc = bench.describe()
    assert desc["signal"].startswith("test_200: no validation accuracy") and "FLOPs" in desc["cost_model"]
    with pytest.raises(ValueError, match="has no cifar100 data"):
        make_nb201("cifar100")


def test_csv_protocol(csv_table: NB201Table, nb201_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASREPRO_DATA", str(nb201_csv.parent.parent))
    assert make_nb201("cifar10").table.kind == "shared-csv"  # the default when the data is present
    bench = make_nb201("ImageNet16-120", table=csv_table)
    arch = S.from_str(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    )
    obs = bench.query(arch, np.random.default_rng(0))
    assert obs.score == csv_table.get(arch, "imagenet16-120", "val_12")
    assert obs.cost_s == pytest.approx(C.FlopsCostModel("imagenet16-120").cost_s(arch, 12))
    final = bench.final(arch)
    assert final["test_acc"] == csv_table.get(arch, "imagenet16-120", "test_200")
    assert final["val_acc"] == csv_table.get(arch, "imagenet16-120", "val_200")
    b200 = make_nb201("cifar10", table=str(nb201_csv), fidelity=200)
    assert b200.query(arch, np.random.default_rng(0)).score == csv_table.get(arch, "cifar10", "val_200")
    assert make_benchmark("nb201", dataset="cifar100", table=str(nb201_csv)).dataset == "cifar100"
    scaled = make_nb201("ImageNet16-120", table=csv_table, cost_scaling="images")
    assert scaled.query(arch, np.random.default_rng(0)).cost_s > 4 * obs.cost_s
    assert "scaling=images" in scaled.describe()["cost_model"]


def test_cost_model_calibration() -> None:
    model = C.FlopsCostModel("cifar10")
    for arch_str, train_s, valid_s in C.CALIBRATION:  # the line passes through both records
        arch = S.from_str(arch_str)
        assert model.train_epoch_s(arch) == pytest.approx(train_s)
        assert model.cost_s(arch, 12) == pytest.approx(12 * train_s + valid_s)
    small, big = (0,) * 6, (3,) * 6
    assert model.cost_s(small, 12) < model.cost_s(big, 12) < model.cost_s(big, 200)
    # "nb201" (default): every data set is charged the cifar10-valid time, as NB201's records are
    assert C.FlopsCostModel("imagenet16-120").cost_s(big, 12) == model.cost_s(big, 12)
    # "images": image-count scaling as in NB201's R_EA.py estimator (cifar100 trains on 2x the images)
    assert C.FlopsCostModel("cifar100", "images").train_epoch_s(big) == pytest.approx(
        2 * model.train_epoch_s(big), rel=1e-3
    )
    assert C.expected_evals("imagenet16-120", 12_000, scaling="images") < 30
    with pytest.raises(ValueError, match="scaling"):
        C.FlopsCostModel("cifar10", "latency")
    n = C.expected_evals("cifar10", 12_000)
    assert 60 < n < 160
    with pytest.raises(ValueError):
        C.FlopsCostModel("mnist")
