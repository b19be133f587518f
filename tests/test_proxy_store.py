"""The score store: written whole from runs, read back (NaN/inf, version 1), planned per proxy set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from nasrepro.bench.proxies.store import plan_stores, read_score_dir, read_scores, write_store

SETTINGS = {"bench": "nb201", "dataset": "cifar10", "images": "test", "batch": 4, "seed": 0, "proxies": ["snip", "synflow"]}


def _rows(indices: list[int]) -> list[tuple[int, str, dict[str, float], float, float]]:
    return [(i, f"arch{i}", {"snip": i * 0.5, "synflow": float(i) ** 3}, 0.01 * i, 0.005 * i) for i in indices]


def test_write_and_read(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    assert write_store(path, SETTINGS, _rows([3, 1, 2]))
    meta, frame = read_scores(path)
    assert meta["version"] == 2 and meta["proxies"] == ["snip", "synflow"] and meta["dataset"] == "cifar10"
    assert list(frame["index"]) == [3, 1, 2]
    assert frame.loc[frame["index"] == 2, "synflow"].item() == 8.0
    assert list(frame.columns) == ["index", "arch", "snip", "synflow", "seconds", "cpu_seconds"]
    side = tmp_path / "scores.csv.provenance.json"
    stamp = side.read_text()
    assert not write_store(path, SETTINGS, _rows([3, 1, 2]))  # the same table: left as it is
    assert side.read_text() == stamp
    assert write_store(path, SETTINGS, _rows([3, 1, 2, 4]))
    assert list(read_scores(path)[1]["index"]) == [3, 1, 2, 4]


def test_bad_rows_and_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lack"):
        write_store(tmp_path / "s.csv", SETTINGS, [(0, "a", {"snip": 1.0}, 0.0, 0.0)])
    with pytest.raises(ValueError, match="commas"):
        write_store(tmp_path / "s.csv", SETTINGS, [(0, "a,b", {"snip": 1.0, "synflow": 1.0}, 0.0, 0.0)])
    with pytest.raises(ValueError, match="name the proxies"):
        write_store(tmp_path / "s.csv", {**SETTINGS, "proxies": []}, [])
    assert not (tmp_path / "s.csv").exists()
    old = tmp_path / "old.csv"
    old.write_text("# nasrepro-proxy-scores " + json.dumps({**SETTINGS, "version": 0}) + "\nindex,arch\n")
    with pytest.raises(ValueError, match="format version 0"):
        read_scores(old)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a proxy score store"):
        read_scores(other)
    with pytest.raises(FileNotFoundError):
        read_scores(tmp_path / "missing.csv")


def test_nan_and_inf_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    write_store(path, SETTINGS, [(7, "a", {"snip": float("nan"), "synflow": float("-inf")}, 0.5, 0.5),
                                 (8, "b", {"snip": 1e-300, "synflow": 1.2345678901234567e+250}, 0.5, 0.5)])
    _, frame = read_scores(path)
    assert math.isnan(frame["snip"].iloc[0]) and frame["synflow"].iloc[0] == float("-inf")
    assert frame["snip"].iloc[1] == 1e-300 and frame["synflow"].iloc[1] == 1.2345678901234567e+250


def test_plain_pandas_reads_the_store_and_version_1_files_are_read(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "scores.csv"
    write_store(path, SETTINGS, _rows([0, 1]))
    assert list(pd.read_csv(path)["index"]) == [0, 1]  # no comment line: plain read_csv
    assert json.loads((tmp_path / "scores.csv.provenance.json").read_text())["store"]["batch"] == 4
    old = tmp_path / "old" / "scores.csv"
    old.parent.mkdir()
    old.write_text("# nasrepro-proxy-scores " + json.dumps({**SETTINGS, "version": 1}) + "\n" + path.read_text()
                   + "2,arch2,1.0")  # and a row cut short by an interruption: ignored
    meta, frame = read_scores(old)
    assert meta["batch"] == 4 and list(frame["index"]) == [0, 1]


def test_new_proxies_go_to_a_second_store_and_read_back_merged(tmp_path: Path) -> None:
    write_store(tmp_path / "scores.csv", SETTINGS, _rows([0, 1, 2]))
    plan = plan_stores(tmp_path, {**SETTINGS, "proxies": ["snip", "zico"], "zico_batches": 2})
    assert [(p.name, s["proxies"]) for p, s in plan] == [("scores.csv", ["snip", "synflow"]),
                                                      ("scores-zico-1.csv", ["zico"])]
    assert plan[1][1]["zico_batches"] == 2
    write_store(plan[1][0], plan[1][1], [(i, f"arch{i}", {"zico": float(i)}, 1.0, 0.5) for i in (2, 1)])
    meta, frame = read_score_dir(tmp_path)
    assert meta["proxies"] == ["snip", "synflow", "zico"]
    assert sorted(frame["index"]) == [1, 2]  # cells scored in every store
    row = frame.set_index("index").loc[2]
    assert row["zico"] == 2.0 and row["seconds"] == pytest.approx(0.02 + 1.0)
    with pytest.raises(ValueError, match=r"other settings \(batch: stored 4 vs now 8"):
        plan_stores(tmp_path, {**SETTINGS, "batch": 8})
