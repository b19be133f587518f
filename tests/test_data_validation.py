"""Table values, known-file checksums and NASREPRO_DATA are checked on load (issue 13).

Every table here is synthetic (no data needed) except where a test says it uses the shared CSV.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from nasrepro.bench import checksums
from nasrepro.bench.io import file_fingerprint
from nasrepro.bench.nb201 import space as S
from nasrepro.bench.nb201 import tables as T
from nasrepro.bench.nb201.tables import NB201Table

CSV_ACC = [c for cols in T.CSV_COLUMNS.values() for c in cols.values()]


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


# ---- a synthetic CSV in the shared layout (all 15,625 cells) -------------------------------------
@pytest.fixture(scope="module")
def csv_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    rng = np.random.default_rng(0)
    header = ["index", "arch_str", "params_M", *CSV_ACC]
    acc = np.round(10 + 80 * rng.random((S.N_ARCHS, len(CSV_ACC))), 2)
    lines = [",".join(header) + "\n"]
    for i in range(S.N_ARCHS):
        arch = S.index_to_arch(i)
        vals = ",".join(f"{v:.2f}" for v in acc[i])
        lines.append(f"{i},{S.to_str(arch)},{S.params_m(arch):.6f},{vals}\n")
    return lines


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines))
    return path


def with_value(lines: list[str], line_no: int, column: str, value: str) -> list[str]:
    """``lines`` with ``column`` of file line ``line_no`` (1 = header) set to ``value``."""
    out = list(lines)
    header = out[0].rstrip("\n").split(",")
    cells = out[line_no - 1].rstrip("\n").split(",")
    cells[header.index(column)] = value
    out[line_no - 1] = ",".join(cells) + "\n"
    return out


def test_good_synthetic_csv_loads(csv_lines: list[str], tmp_path: Path) -> None:
    table = T.load_csv(write(tmp_path / "mine.csv", csv_lines))
    assert len(table) == S.N_ARCHS and table.path == str((tmp_path / "mine.csv").resolve())


@pytest.mark.parametrize("value", ["150", "-3", "100.01", "inf"])
def test_csv_accuracy_out_of_range_names_file_column_line(csv_lines: list[str], tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "bad.csv", with_value(csv_lines, 1234, "cifar100_test_200", value))
    with pytest.raises(ValueError, match="out of range") as exc:
        T.load_csv(path)
    msg = one_line(exc)
    assert str(path) in msg and "cifar100_test_200" in msg and "line 1234" in msg and "[0, 100]" in msg


def test_csv_every_test_accuracy_plus_100_is_refused(csv_lines: list[str], tmp_path: Path) -> None:
    header = csv_lines[0].rstrip("\n").split(",")
    j = header.index("cifar10_test_200")
    shifted = [csv_lines[0]]
    for line in csv_lines[1:]:
        cells = line.rstrip("\n").split(",")
        cells[j] = f"{float(cells[j]) + 100:.2f}"
        shifted.append(",".join(cells) + "\n")
    with pytest.raises(ValueError, match=r"column cifar10_test_200, line 2 \(cell 0\)") as exc:
        T.load_csv(write(tmp_path / "plus100.csv", shifted))
    one_line(exc)


def test_csv_nan_and_negative_size(csv_lines: list[str], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"column imagenet16_val_12, line 7 .*missing value") as exc:
        T.load_csv(write(tmp_path / "nan.csv", with_value(csv_lines, 7, "imagenet16_val_12", "nan")))
    one_line(exc)
    with pytest.raises(ValueError, match="column params_M, line 9"):
        T.load_csv(write(tmp_path / "neg.csv", with_value(csv_lines, 9, "params_M", "-1")))


def test_csv_duplicate_cell(csv_lines: list[str], tmp_path: Path) -> None:
    dup = list(csv_lines)
    dup[11] = dup[10]  # line 12 repeats line 11's cell; cell 10 is then missing
    with pytest.raises(ValueError, match=r"line 12 \(cell 9\) repeats cell 9") as exc:
        T.load_csv(write(tmp_path / "dup.csv", dup))
    one_line(exc)


def test_convert_refuses_bad_csv_and_writes_nothing(
    csv_lines: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nasrepro.reproduce.cli import main

    src = write(tmp_path / "bad.csv", with_value(csv_lines, 5, "cifar10_val_12", "150"))
    dst = tmp_path / "t.npz"
    assert main(["data", "convert", str(src), str(dst), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "cifar10_val_12" in err and "line 5" in err
    assert not dst.exists()


# ---- compact tables ------------------------------------------------------------------------------
def table(n: int = S.N_ARCHS) -> NB201Table:
    rng = np.random.default_rng(1)
    idx = np.arange(n)
    cols = {
        "cifar10": {
            "val_12": 30 + 60 * rng.random(n),
            "test_200": 30 + 60 * rng.random(n),
            "cost_12_s": 100 + rng.random(n),
            "val_seeds_12": 30 + 60 * rng.random((n, 2)),
        }
    }
    return NB201Table.from_arrays(cols, source="synthetic", kind="test", index=idx)


def test_compact_missing_cell_is_refused(tmp_path: Path) -> None:
    path = table(S.N_ARCHS - 1).save_compact(tmp_path / "short.npz")
    with pytest.raises(ValueError, match=r"has 15624 of 15625 cells \(first missing: cell 15624") as exc:
        T.load_compact(path)
    assert str(path) in one_line(exc)
    with pytest.raises(ValueError, match="15624 of 15625"):
        T.load_table(path)
    assert len(T.load_compact(path, allow_partial=True)) == S.N_ARCHS - 1  # explicit: format tests


@pytest.mark.parametrize(
    ("metric", "value", "expect"),
    [
        ("test_200", 150.0, "column test_200 (cifar10), cell 321"),
        ("val_12", -3.0, "column val_12 (cifar10), cell 321"),
        ("test_200", np.nan, "column test_200 (cifar10), cell 321 .*missing value"),
        ("val_12", np.nan, "column val_12 (cifar10), cell 321 .*missing value"),
        ("cost_12_s", -1.0, "column cost_12_s (cifar10), cell 321 .*costs"),
        ("cost_12_s", np.inf, "column cost_12_s (cifar10), cell 321"),
    ],
)
def test_compact_bad_value_is_refused(tmp_path: Path, metric: str, value: float, expect: str) -> None:
    t = table()
    t.data[321, 0, T.METRICS.index(metric)] = value
    path = t.save_compact(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=expect.replace("(", r"\(").replace(")", r"\)")) as exc:
        T.load_compact(path)
    assert str(path) in one_line(exc)


def test_compact_nan_cost_means_modelled_and_loads(tmp_path: Path) -> None:
    t = table()
    t.data[5, 0, T.METRICS.index("cost_12_s")] = np.nan  # this cell's cost comes from the FLOPs model
    assert len(T.load_compact(t.save_compact(tmp_path / "ok.npz"))) == S.N_ARCHS


def test_compact_bad_trial_value_is_refused(tmp_path: Path) -> None:
    t = table()
    assert t.val_seeds_12 is not None
    t.val_seeds_12[42, 0, 1] = 101.0
    with pytest.raises(ValueError, match=r"val_seeds_12 \(cifar10\), cell 42"):
        T.load_compact(t.save_compact(tmp_path / "seeds.npz"))


# ---- official files --------------------------------------------------------------------------------
def test_official_file_partial_or_bad_values_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import nb201_fixtures as fx
    import torch
    from nasrepro.reproduce.cli import main

    data = fx.nb201_pth_dict([3, 77], version="v1_1", seed=0)
    src = tmp_path / "synthetic-nb201.pth"  # not the official name: no checksum to match
    torch.save(data, src, _use_new_zipfile_serialization=False)
    dst = tmp_path / "t.npz"
    assert main(["data", "convert", str(src), str(dst), "--quiet"]) == 2
    assert "has 2 of 15625 cells" in capsys.readouterr().err and not dst.exists()
    assert main(["data", "convert", str(src), str(dst), "--quiet", "--allow-partial"]) == 0
    capsys.readouterr()
    for rc in data["arch2infos"][77]["full"]["all_results"].values():
        rc["eval_acc1es"] = {k: v + 100.0 for k, v in rc["eval_acc1es"].items()}
    torch.save(data, src, _use_new_zipfile_serialization=False)
    bad_dst = tmp_path / "bad.npz"
    assert main(["data", "convert", str(src), str(bad_dst), "--quiet", "--allow-partial"]) == 2
    err = capsys.readouterr().err
    assert "cell 77" in err and "out of range" in err and err.count("\n") == 1 and not bad_dst.exists()


# ---- checksums -------------------------------------------------------------------------------------
def test_known_csv_with_other_content_is_refused(csv_lines: list[str], tmp_path: Path) -> None:
    (tmp_path / "nb201").mkdir()
    path = write(tmp_path / "nb201" / "nb201_accuracy.csv", csv_lines)  # valid values, not the shared file
    with pytest.raises(ValueError, match="sha256 checksum .* does not match the shared NB201 accuracy CSV") as exc:
        T.load_csv(path)
    assert str(path) in one_line(exc) and "fetch it again" in str(exc.value)


def test_shared_csv_matches_its_recorded_checksum(nb201_csv: Path) -> None:
    assert checksums.verify_known(nb201_csv) == checksums.KNOWN["nb201_accuracy.csv"].digest
    latency = nb201_csv.parent / "nb201_latency_ms.csv"
    if latency.exists():
        assert checksums.verify_known(latency) == checksums.KNOWN["nb201_latency_ms.csv"].digest


def test_official_name_promises_its_md5_suffix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nasrepro.bench.nb201 import official

    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    path.write_bytes(b"not the official file" * 100)
    with pytest.raises(ValueError, match=r"md5 checksum \w+ does not match the official NB201 v1_1 file") as exc:
        official.read_direct(path, progress=False)
    assert "...096897" in one_line(exc)
    with pytest.raises(ValueError, match="md5 checksum"):
        T.load_table(path)
    # a file whose MD5 does end in its name's tag passes the check (and then is read as usual)
    tag = hashlib.md5(path.read_bytes()).hexdigest()[-6:]
    known = checksums.Known("md5", tag, suffix=True, what="x")
    monkeypatch.setitem(checksums.KNOWN, path.name, known)
    assert checksums.verify_known(path).endswith(tag)


def test_verification_is_cached_by_path_size_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("NASREPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(checksums, "_PERSIST_BYTES", 0)  # exercise the on-disk cache with a small file
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1000)
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(checksums.KNOWN, "f.bin", checksums.Known("sha256", good))
    assert checksums.verify_known(path) == good
    assert good in (tmp_path / "cache" / "checksums.json").read_text()
    calls: list[Path] = []
    monkeypatch.setattr(checksums, "file_digest", lambda p, a: calls.append(p) or "0")
    assert checksums.verify_known(path) == good and not calls  # same (path, size, mtime): not re-read
    path.write_bytes(b"abd" * 1000)  # same size, new content and mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match="does not match"):
        checksums.verify_known(path)
    assert calls == [path]


# ---- NASREPRO_DATA -----------------------------------------------------------------------------------
def test_mistyped_data_dir_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nasrepro.bench.nb201.benchmark import make_nb201

    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "shraed" / "data"))
    with pytest.raises(FileNotFoundError, match="NASREPRO_DATA=.* is not a folder") as exc:
        make_nb201("cifar10")
    one_line(exc)
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path))  # a folder, but not shaped like shared/data
    with pytest.raises(FileNotFoundError, match="has no nb201/nb201_accuracy.csv") as exc:
        make_nb201("cifar10")
    one_line(exc)
    monkeypatch.setenv("NASREPRO_REFERENCE", str(tmp_path / "nope"))
    from nasrepro.bench.paths import reference_dir

    with pytest.raises(FileNotFoundError, match="NASREPRO_REFERENCE"):
        reference_dir()


def test_mistyped_data_dir_fails_the_cli_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nasrepro.reproduce.cli import main

    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "typo"))
    argv = ["run", "--bench", "nb201", "--method", "random", "--seeds", "0", "--budget", "3evals",
            "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "NASREPRO_DATA" in err and err.count("\n") == 1


# ---- the table a benchmark uses is visible to the runner ---------------------------------------------
def test_describe_and_sources_name_the_table(csv_lines: list[str], tmp_path: Path) -> None:
    from nasrepro.bench.nb201.benchmark import make_nb201

    path = write(tmp_path / "mine.csv", csv_lines)
    bench = make_nb201("cifar10", table=str(path))
    assert bench.describe()["table_path"] == str(path.resolve())
    assert bench.sources() == {"table": file_fingerprint(path)}
    npz = bench.table.save_compact(tmp_path / "mine.npz")
    from_npz = make_nb201("cifar10", table=str(npz))
    assert from_npz.describe()["table_path"] == str(npz.resolve())
    assert from_npz.sources() == {"table": file_fingerprint(npz)}
    in_memory = make_nb201("cifar10", table=table())
    assert in_memory.describe()["table_path"] == "in-memory:synthetic"
    assert in_memory.sources()["table"] == table().data_fingerprint() != from_npz.sources()["table"]


def test_embedded_default_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    if importlib.util.find_spec("analognasbench") is None:  # found, not imported (it needs pkg_resources)
        pytest.skip("the embedded table needs the analog-nasbench package")
    from nasrepro.bench.core import Benchmark
    from nasrepro.bench.nb201.benchmark import make_nb201

    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    bench = make_nb201("cifar10")
    assert bench.describe()["table_path"] == "embedded:analog-nasbench"
    fp = bench.sources()["table"]
    assert fp.startswith("sha256:") and fp == bench.table.data_fingerprint()
    assert Benchmark.sources(bench) == {}  # the base class default
