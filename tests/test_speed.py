"""Each `nasrepro speed NAME` runs on tiny settings and writes NAME's .md (provenance at the end) and .csv.

No timing is asserted: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from nasrepro.reproduce.cli import main, speeds


def _check_outputs(out: Path, stem: str) -> list[dict[str, str]]:
    md, data = out / f"{stem}.md", out / f"{stem}.csv"
    assert md.is_file() and data.is_file()
    assert "<summary>Provenance</summary>" in md.read_text()
    assert "commit" in json.loads((out / f"{stem}.csv.provenance.json").read_text())
    with open(data, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    return rows


def test_every_speed_module_is_registered() -> None:
    assert {"startup", "query", "runs", "proxies", "table-load", "supernet-eval", "synflow-full", "executors"} <= set(speeds())


def test_query(tmp_path: Path) -> None:
    assert main(["speed", "query", "--queries", "300", "--rounds", "2", "--out", str(tmp_path)]) == 0
    rows = _check_outputs(tmp_path, "query")
    assert [r["way"] for r in rows] == ["dict", "query", "reference"]
    assert all(float(r["queries_per_s"]) > 0 for r in rows)


def test_startup(tmp_path: Path) -> None:
    assert main(["speed", "startup", "--repeats", "1", "--budget", "10evals", "--out", str(tmp_path)]) == 0
    rows = _check_outputs(tmp_path, "startup")
    assert {r["way"] for r in rows} == {"eager", "lazy"} and len(rows) == 4
    assert all(float(r["peak_rss_mb"]) > 0 and float(r["cpu_s"]) > 0 for r in rows)


def test_runs(tmp_path: Path) -> None:
    argv = ["speed", "runs", "--runs", "3", "--budget", "10evals", "--workers", "1", "--repeats", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    rows = _check_outputs(tmp_path, "runs")
    assert [r["way"] for r in rows] == ["before", "now"]
    assert {r["evals"] for r in rows} == {"30"}  # both ways searched alike


def test_runs_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["speed", "runs", "--ways", "later", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: --ways")


def test_supernet_eval(tmp_path: Path) -> None:
    argv = ["speed", "supernet-eval", "--configs", "mnist-small", "--n-archs", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    rows = _check_outputs(tmp_path, "supernet_eval")
    assert rows[0]["config"] == "mnist-small" and float(rows[0]["images_per_s"]) > 0


def test_proxies(tmp_path: Path) -> None:
    argv = ["speed", "proxies", "--cells", "1", "--batch", "8", "--images", "mnist", "--out", str(tmp_path)]
    assert main(argv) == 0
    rows = _check_outputs(tmp_path, "proxies")
    assert rows[0]["same_scores"] == "True"
    # the report names the proxies it measured (the reference code's six by default), never a typed list
    assert "- proxies: grad_norm, snip, grasp, fisher, synflow, jacob_cov\n" in (tmp_path / "proxies.md").read_text()
    argv[-2:] = ["--proxies", "synflow,params", "--out", str(tmp_path / "two")]
    assert main(argv) == 0
    assert "- proxies: synflow, params\n" in (tmp_path / "two" / "proxies.md").read_text()


def test_proxies_unknown_name_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["speed", "proxies", "--proxies", "synflow,nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--proxies" in err and "nope" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_table_load(tmp_path: Path) -> None:
    argv = ["speed", "table-load", "--sizes", "4", "6", "--backends", "direct", "compact",
            "--workdir", str(tmp_path / "work"), "--out", str(tmp_path)]
    assert main(argv) == 0
    rows = _check_outputs(tmp_path, "table_load")
    assert {r["backend"] for r in rows} == {"direct", "compact"}


def test_synflow_full_on_a_tiny_sample(tmp_path: Path) -> None:
    """The full-size figure's code path on 3 cells through the local pool (Ray: tests/test_ray_executor.py)."""
    assert main(["speed", "synflow-full", "--cells", "3", "--ways", "local", "--workers", "1",
                 "--out", str(tmp_path)]) == 0
    rows = _check_outputs(tmp_path, "synflow-full")
    assert [(r["way"], r["phase"], r["tasks"]) for r in rows] == [("local", "scoring", "3")]
    # the proxy's own CPU (the runs' ledgers) is part of the whole process tree's
    assert 0 < float(rows[0]["proxy_cpu_ms_per_task"]) < float(rows[0]["cpu_ms_per_task"])
    md = (tmp_path / "synflow-full.md").read_text()
    assert "a seeded sample of 3 of 15,625 cells" in md and "in synflow itself" in md


def test_synflow_full_bad_cells_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["speed", "synflow-full", "--cells", "0", "--out", str(tmp_path)]) == 2
    assert "--cells must be in 1..15625" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
