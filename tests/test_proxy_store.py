"""The append-only score store: resume, truncated lines, other settings/versions, NaN round-trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from nasrepro.bench.proxies.store import ScoreStore, plan_stores, read_score_dir, read_scores

SETTINGS = {"bench": "nb201", "dataset": "cifar10", "images": "test", "batch": 4, "seed": 0, "proxies": ["snip", "synflow"]}


def _fill(path: Path, indices: list[int]) -> None:
    with ScoreStore(path, SETTINGS) as store:
        for i in indices:
            if i not in store.done:
                store.append(i, f"arch{i}", {"snip": i * 0.5, "synflow": float(i) ** 3}, 0.01 * i)


def test_write_resume_and_read(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    _fill(path, [3, 1, 2])
    with ScoreStore(path, SETTINGS) as store:
        assert store.done == {1, 2, 3}
    _fill(path, [1, 2, 3, 4])  # only 4 is new
    meta, frame = read_scores(path)
    assert meta["version"] == 2 and meta["proxies"] == ["snip", "synflow"] and meta["dataset"] == "cifar10"
    assert list(frame["index"]) == [3, 1, 2, 4]
    assert frame.loc[frame["index"] == 4, "synflow"].item() == 64.0
    assert list(frame.columns) == ["index", "arch", "snip", "synflow", "seconds", "cpu_seconds"]


def test_truncated_last_line_is_dropped_and_redone(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    _fill(path, [0, 1])
    with open(path, "a") as fh:
        fh.write("2,arch2,1.0")  # interrupted mid-row
    _, frame = read_scores(path)
    assert list(frame["index"]) == [0, 1]
    with ScoreStore(path, SETTINGS) as store:
        assert store.done == {0, 1}
        store.append(2, "arch2", {"snip": 1.0, "synflow": 8.0}, 0.1)
    _, frame = read_scores(path)
    assert list(frame["index"]) == [0, 1, 2] and frame["synflow"].iloc[-1] == 8.0


def test_other_settings_or_version_or_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    _fill(path, [0])
    with pytest.raises(ValueError, match=r"other settings \(batch: stored 4 vs now 64"):
        ScoreStore(path, {**SETTINGS, "batch": 64})
    with pytest.raises(ValueError, match="other settings"):
        ScoreStore(path, {**SETTINGS, "proxies": ["snip"]})
    lines = path.read_text().splitlines(keepends=True)
    meta = {**SETTINGS, "version": 0}  # an old-style file of an unknown format version
    path.write_text("# nasrepro-proxy-scores " + json.dumps(meta) + "\n" + "".join(lines))
    with pytest.raises(ValueError, match="format version 0"):
        ScoreStore(path, SETTINGS)
    with pytest.raises(ValueError, match="format version 0"):
        read_scores(path)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a proxy score store"):
        ScoreStore(other, SETTINGS)
    with pytest.raises(FileNotFoundError):
        read_scores(tmp_path / "missing.csv")


def test_damaged_middle_row_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    _fill(path, [0, 1])
    text = path.read_text().splitlines(keepends=True)
    text.insert(3, "5,arch5\n")
    path.write_text("".join(text))
    with pytest.raises(ValueError, match="damaged"):
        ScoreStore(path, SETTINGS)
    with ScoreStore(tmp_path / "s2.csv", SETTINGS) as store:
        with pytest.raises(ValueError, match="lack"):
            store.append(0, "a", {"snip": 1.0}, 0.0)
        with pytest.raises(ValueError, match="commas"):
            store.append(0, "a,b", {"snip": 1.0, "synflow": 1.0}, 0.0)


def test_nan_and_inf_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    with ScoreStore(path, SETTINGS) as store:
        store.append(7, "a", {"snip": float("nan"), "synflow": float("-inf")}, 0.5)
        store.append(8, "b", {"snip": 1e-300, "synflow": 1.2345678901234567e+250}, 0.5)
    _, frame = read_scores(path)
    assert math.isnan(frame["snip"].iloc[0]) and frame["synflow"].iloc[0] == float("-inf")
    assert frame["snip"].iloc[1] == 1e-300 and frame["synflow"].iloc[1] == 1.2345678901234567e+250


def test_store_keeps_only_indices_in_memory(tmp_path: Path) -> None:
    # memory stays flat: the store object holds the set of done indices, not the rows
    path = tmp_path / "scores.csv"
    with ScoreStore(path, SETTINGS) as store:
        for i in range(2000):
            store.append(i, "a", {"snip": 1.0, "synflow": 2.0}, 0.0)
        held = {k for k, v in vars(store).items() if isinstance(v, (list, dict, set)) and len(v) >= 2000}
    assert held == {"done"}


def test_two_writers_on_one_store_lose_no_row(tmp_path: Path) -> None:
    # shard workers: the first creates the store, the second opens it; their appends interleave
    path = tmp_path / "scores.csv"
    a = ScoreStore(path, SETTINGS)
    b = ScoreStore(path, SETTINGS)
    for i in range(20):
        (a if i % 2 else b).append(i, f"arch{i}", {"snip": float(i), "synflow": 1.0}, 0.0)
    a.close()
    b.close()
    _, frame = read_scores(path)
    assert sorted(frame["index"]) == list(range(20))
    assert all(frame["snip"] == frame["index"].astype(float))


def test_plain_pandas_reads_the_store_and_version_1_files_are_read_and_migrated(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "scores.csv"
    _fill(path, [0, 1])
    assert list(pd.read_csv(path)["index"]) == [0, 1]  # no comment line: plain read_csv
    assert json.loads((tmp_path / "scores.csv.provenance.json").read_text())["store"]["batch"] == 4
    old = tmp_path / "old" / "scores.csv"
    old.parent.mkdir()
    body = path.read_text()
    old.write_text("# nasrepro-proxy-scores " + json.dumps({**SETTINGS, "version": 1}) + "\n" + body)
    meta, frame = read_scores(old)  # read as it is
    assert meta["batch"] == 4 and list(frame["index"]) == [0, 1]
    _fill(old, [0, 1, 2])  # appending migrates it first
    assert list(pd.read_csv(old)["index"]) == [0, 1, 2]
    assert read_scores(old)[0]["version"] == 2


def test_new_proxies_go_to_a_second_store_and_read_back_merged(tmp_path: Path) -> None:
    _fill(tmp_path / "scores.csv", [0, 1, 2])
    plan = plan_stores(tmp_path, {**SETTINGS, "proxies": ["snip", "zico"], "zico_batches": 2})
    assert [(p.name, s["proxies"]) for p, s in plan] == [("scores.csv", ["snip", "synflow"]),
                                                      ("scores-zico-1.csv", ["zico"])]
    assert plan[1][1]["zico_batches"] == 2
    with ScoreStore(plan[1][0], plan[1][1]) as store:
        for i in (2, 1):
            store.append(i, f"arch{i}", {"zico": float(i)}, 1.0, 0.5)
    meta, frame = read_score_dir(tmp_path)
    assert meta["proxies"] == ["snip", "synflow", "zico"]
    assert sorted(frame["index"]) == [1, 2]  # cells scored in every store
    row = frame.set_index("index").loc[2]
    assert row["zico"] == 2.0 and row["seconds"] == pytest.approx(0.02 + 1.0)
    with pytest.raises(ValueError, match="other settings"):
        ScoreStore(tmp_path / "scores.csv", {**SETTINGS, "batch": 8})
