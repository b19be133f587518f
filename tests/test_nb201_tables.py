"""NB201 tables: loaders (CSV, embedded, compact), error messages, compact round trip."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from nasrepro.bench.nb201 import space as S
from nasrepro.bench.nb201 import tables as T
from nasrepro.bench.nb201.tables import METRICS, NB201Table
from scipy.stats import spearmanr


def synthetic(n: int | None = None, seeds: bool = True) -> NB201Table:
    """A small deterministic table built from plain arrays (no data needed)."""
    idx = np.arange(S.N_ARCHS) if n is None else np.arange(0, S.N_ARCHS, S.N_ARCHS // n)[:n]
    rng = np.random.default_rng(0)
    cols = {}
    for k, ds in enumerate(("cifar10", "cifar100")):
        cols[ds] = {
            "val_12": 40 + 10 * k + rng.random(len(idx)) * 40,
            "test_200": 50 + 10 * k + rng.random(len(idx)) * 40,
            "cost_12_s": np.full(len(idx), 100.0 + k),
        }
        if seeds:
            s = rng.random((len(idx), 3)) * 80
            s[::7, 2] = np.nan  # a cell with only two trials
            cols[ds]["val_seeds_12"] = s
    return NB201Table.from_arrays(cols, source="synthetic", kind="test", index=idx, notes={"why": "tests"})


@pytest.fixture(scope="module")
def csv_table(nb201_csv: Path) -> NB201Table:
    return T.load_csv(nb201_csv)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> NB201Table:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASREPRO_CACHE", str(tmp_path_factory.mktemp("cache")))
        return T.load_embedded()


# ---- from_arrays and queries --------------------------------------------------------------
def test_from_arrays_and_queries() -> None:
    tab = synthetic(n=100)
    assert len(tab) == 100 and tab.datasets == ("cifar10", "cifar100")
    i = int(tab.index[3])
    arch = S.index_to_arch(i)
    assert tab.get(arch, "cifar10", "val_12") == tab.get(i, "CIFAR10", "val_12")
    assert np.isnan(tab.get(arch, "cifar10", "val_200"))
    col = tab.column("cifar100", "test_200")
    assert (
        col.shape == (S.N_ARCHS,)
        and np.isfinite(col).sum() == 100
        and col[i] == tab.get(i, "cifar100", "test_200")
    )
    assert (
        tab.has("cifar10", "val_12") and not tab.has("cifar10", "val_200") and not tab.has("imagenet16-120")
    )
    absent = next(a for a in range(S.N_ARCHS) if a not in set(tab.index.tolist()))
    with pytest.raises(ValueError, match="not in the table"):
        tab.row(absent)
    with pytest.raises(ValueError, match="has no imagenet16-120 data"):
        tab.get(i, "ImageNet16-120", "val_12")
    assert 2 <= tab.seeds(i, "cifar10").size <= 3


def test_from_arrays_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown NB201 table metric"):
        NB201Table.from_arrays({"cifar10": {"valid_acc": np.zeros(S.N_ARCHS)}}, source="x", kind="x")
    with pytest.raises(ValueError, match="shape"):
        NB201Table.from_arrays({"cifar10": {"val_12": np.zeros(10)}}, source="x", kind="x")
    with pytest.raises(ValueError, match="unknown NB201 dataset"):
        NB201Table.from_arrays({"mnist": {"val_12": np.zeros(S.N_ARCHS)}}, source="x", kind="x")
    with pytest.raises(ValueError, match="duplicate"):
        NB201Table.from_arrays({"cifar10": {"val_12": np.zeros(2)}}, source="x", kind="x", index=[5, 5])


# ---- compact format ----------------------------------------------------------------------
def test_compact_round_trip_synthetic(tmp_path: Path) -> None:
    tab = synthetic()
    path = tab.save_compact(tmp_path / "t.npz")
    t0 = time.perf_counter()
    back = T.load_compact(path)
    assert time.perf_counter() - t0 < 1.0
    assert back.equals(tab)
    assert T.load_table(path).equals(tab)


def test_compact_round_trip_csv(csv_table: NB201Table, tmp_path: Path) -> None:
    path = csv_table.save_compact(tmp_path / "nb201.npz")
    t0 = time.perf_counter()
    back = T.load_compact(path)
    load_s = time.perf_counter() - t0
    assert back.equals(csv_table)
    assert load_s < 1.0
    # all cells x 3 data sets, far under the 100 MB the format promises
    assert path.stat().st_size < 100e6 and back.data.nbytes < 100e6
    assert back.data.shape == (S.N_ARCHS, 3, len(METRICS))


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg
    return msg


def test_compact_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as exc:
        T.load_compact(tmp_path / "absent.npz")
    assert "--table" in one_line(exc)
    good = synthetic(n=50).save_compact(tmp_path / "good.npz")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated") as exc:
        T.load_compact(truncated)
    assert "nasrepro data convert" in one_line(exc)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all" * 10)
    with pytest.raises(ValueError, match="truncated or not"):
        T.load_compact(garbage)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(ValueError, match="format field") as exc:
        T.load_compact(other)
    one_line(exc)
    newer = tmp_path / "newer.npz"
    with np.load(good) as z:
        fields = {k: z[k] for k in z.files}
    fields["version"] = np.array(99, dtype=np.int32)
    np.savez(newer, **fields)
    with pytest.raises(ValueError, match="version 99"):
        T.load_compact(newer)
    with pytest.raises(ValueError, match=r"\.npz"):
        synthetic(n=10).save_compact(tmp_path / "t.bin")


# ---- shared CSV ----------------------------------------------------------------------------
def test_csv_known_facts(csv_table: NB201Table) -> None:
    assert len(csv_table) == S.N_ARCHS and csv_table.datasets == T.DATASETS
    best = {ds: float(np.nanmax(csv_table.column(ds, "test_200"))) for ds in T.DATASETS}
    assert best == pytest.approx({"cifar10": 94.37, "cifar100": 73.51, "imagenet16-120": 47.31}, abs=0.01)
    assert not csv_table.has("cifar10", "cost_12_s")  # no times: the cost is modelled
    assert "no training times" in csv_table.describe()["table_note_times"]


def test_csv_errors(nb201_csv: Path, tmp_path: Path) -> None:
    lines = nb201_csv.read_text().splitlines(keepends=True)
    short = tmp_path / "short.csv"
    short.write_text("".join(lines[:101]))
    with pytest.raises(ValueError, match="100 rows, expected 15625") as exc:
        T.load_csv(short)
    one_line(exc)
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines)[: -len(lines[-1]) // 2])
    with pytest.raises(ValueError, match="truncated") as exc:
        T.load_csv(cut)
    one_line(exc)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        T.load_table(wrong)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        T.load_csv(empty)


def test_csv_errors_without_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as exc:
        T.load_table(tmp_path / "nope.csv")
    one_line(exc)
    odd = tmp_path / "table.json"
    odd.write_text("{}")
    with pytest.raises(ValueError, match="unknown NB201 table format"):
        T.load_table(odd)


# ---- embedded default ----------------------------------------------------------------------
def test_embedded_default_loads(embedded: NB201Table) -> None:
    assert len(embedded) == S.N_ARCHS and embedded.datasets == ("cifar10",)
    assert embedded.has("cifar10", "test_200") and not embedded.has("cifar10", "val_12")
    acc = embedded.column("cifar10", "test_200")
    assert np.isfinite(acc).all() and 9.9 <= acc.min() and 93.0 < acc.max() < 95.0
    desc = embedded.describe()
    assert desc["table_kind"] == "embedded-analognasbench"
    assert "retrain" in desc["table_note_retraining"] and "signal" in desc["table_note_signal"]
    assert "analognasbench" not in __import__("sys").modules  # read without importing the package


def test_embedded_key_mapping(embedded: NB201Table, csv_table: NB201Table) -> None:
    """The AnalogNAS-Bench key order is inferred; it must agree with the official ranking."""
    rho = spearmanr(embedded.column("cifar10", "test_200"), csv_table.column("cifar10", "test_200")).statistic
    assert rho > 0.98


def test_default_table_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # set but without the CSV (a mistyped path): an error, never a silent fall-back to the embedded table
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="has no nb201/nb201_accuracy.csv"):
        T.default_table_path()
    monkeypatch.delenv("NASREPRO_DATA")
    assert T.default_table_path() is None


def test_embedded_cache(embedded: NB201Table, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NASREPRO_CACHE", str(tmp_path))
    first = T.load_embedded()  # parses the pickle and writes the compact copy
    (entry,) = tmp_path.glob("nb201_embedded_*.npz")
    assert first.equals(embedded) and T.load_embedded().equals(embedded)  # second: from the cache
    entry.write_bytes(entry.read_bytes()[:100])  # a damaged cache entry is rebuilt, not an error
    assert T.load_embedded().equals(embedded)
    bad = tmp_path / "bad.anb"
    bad.write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="not a readable analog-nasbench table"):
        T.load_embedded(bad)


def test_embedded_by_name_ignores_shared_data(monkeypatch) -> None:
    from nasrepro.bench.nb201.tables import load_table

    monkeypatch.setenv("NASREPRO_DATA", "/nonexistent-folder-for-this-test")
    table = load_table("embedded")
    assert "analog" in str(table.describe()).lower()
