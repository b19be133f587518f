import subprocess
import sys
from pathlib import Path

import pytest
from nasrepro.reproduce.cli import main
from nasrepro.reproduce.cmd_core import parse_seeds, parse_sets

ROOT = Path(__file__).resolve().parents[1]


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5,1,1") == [1, 5]
    for bad in ("", "a", "3-1", "-2"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_parse_sets():
    assert parse_sets(["population_size=20", "name=x", "p=0.5"]) == {"population_size": 20, "name": "x", "p": 0.5}
    with pytest.raises(ValueError):
        parse_sets(["oops"])


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "--bench", "toy", "--method", "nope", "--out", "X"], "unknown method"),
        (["run", "--bench", "nope", "--method", "random", "--out", "X"], "unknown benchmark"),
        (["run", "--bench", "toy", "--method", "random", "--budget", "0evals", "--out", "X"], "empty budget"),
        (["run", "--bench", "toy", "--method", "random", "--seeds", "x", "--out", "X"], "malformed --seeds"),
        (["run", "--bench", "toy", "--method", "random", "--set", "bogus_param=1", "--out", "X"], "bad parameter"),
    ],
)
def test_bad_input_one_line_exit_2(argv, needle, tmp_path, capsys):
    argv = [a if a != "X" else str(tmp_path / "o") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("error:")


def test_run_writes_layout_and_summary(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--bench", "toy", "--method", "random", "--seeds", "0-2", "--budget", "5evals",
                 "--workers", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "random").glob("*.jsonl")) == ["seed0.jsonl", "seed1.jsonl", "seed2.jsonl"]
    assert len(list((out / "random").glob("seed*.ledger.json"))) == 3  # timings beside, not inside
    header = (out / "summary.csv").read_text().splitlines()[0].split(",")
    for col in ("method", "dataset", "seed", "n_evals", "cost_s", "final_arch", "final_val_acc", "final_test_acc"):
        assert col in header
    assert "random" in capsys.readouterr().out


def test_console_entry_list():
    res = subprocess.run([sys.executable, "-m", "nasrepro.reproduce.cli", "list"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0
    assert "methods:" in res.stdout and "benchmarks:" in res.stdout
